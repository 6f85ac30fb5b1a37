"""The wire format of the import queue (protocol version 1), checked in one place.

Every message is one frame holding a UTF-8 JSON array whose element 0 is the
message type; each type has a declared, fixed shape (``REQUESTS``,
``REPLIES``).  Anything that does not match is refused here, before any other
module sees it, so the rest of the service only handles well-formed requests
with names that cannot escape the output tree.  JSON, never pickle: a pickle
from a socket is code execution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from .findings import KINDS

MAX_FRAME_BYTES = 65536
LIMITS = {"package": 200, "version": 200, "skip": 100}
#: an archive location (files.location) and a wheel's file name, in PENDING and ARCHIVED
ARCHIVE_LIMITS = {"location": 300, "filename": 255}
#: the most [package, filename] pairs one ARCHIVED acknowledges, and one PENDING reply lists
MAX_ARCHIVE_FILES = 1000
#: AUDIT: the most packages one audit may name (more is a whole-site audit), the longest job id JOB takes
MAX_AUDIT_PACKAGES, MAX_JOB_ID = 1000, 64
#: AUDIT's options object: exactly these keys (audit_job.py says what each does)
AUDIT_OPTIONS = ("packages", "repair", "verify_hashes", "min_age", "archives")
#: AUDIT's ``archives``: each entry exactly these keys; at most MAX_AUDIT_ARCHIVES entries; a listing path at most
#: MAX_LISTING_PATH characters
AUDIT_ARCHIVE_KEYS, MAX_AUDIT_ARCHIVES, MAX_LISTING_PATH = ("location", "listing"), 100, 4096
DEFAULT_SKIP_REASON = "removed by request"

#: what no name or reason may hold (the same class as the module's check; tests/protocol_vectors.json pins it):
#: C0 and C1 controls, DEL and the Unicode line and paragraph separators, each of which can split a log line,
#: and the characters that make text read other than it is: bidirectional embeddings, overrides and isolates
#: (U+202A-U+202E, U+2066-U+2069; a reason shown in a log or an audit line could spell anything) and the
#: zero-width ones (U+200B-U+200D, U+2060, U+FEFF)
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200d\u2028-\u202e\u2060\u2066-\u2069\ufeff]")
#: the part of _FORBIDDEN that is invisible rather than a control
_INVISIBLE = re.compile("[\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
#: JSON escapes such as \ud800 (alone) decode to lone surrogates, which no database or file name can hold
_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: the reply encoder, built once (json.dumps builds one per call when given options)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class ProtocolError(ValueError):
    """A request that does not follow the protocol; the reply is ``invalid message: ...``."""


def _name(field: str) -> Callable[[Any], str]:
    """A checker for a package name or version: a string that is safe as a path component."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ProtocolError(f"{field} must be a string")
        if not value:
            raise ProtocolError(f"{field} must not be empty")
        _check_text(field, value, LIMITS[field])
        if "/" in value or "\\" in value or ".." in value:
            raise ProtocolError(f"{field} could escape the output tree")
        return value

    return check


def _reason(value: Any) -> str:
    if not isinstance(value, str):
        raise ProtocolError("reason must be a string")
    if not value:
        raise ProtocolError("skip reason must not be empty (UNSKIP clears a skip)")
    return _check_reason(value)


def _flag(field: str) -> Callable[[Any], bool]:
    """A JSON true or false, never a number (1 == True in Python, not on the wire)."""

    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ProtocolError(f"{field} must be true or false")
        return value

    return check


def _check_reason(value: str) -> str:
    """A reason is shown to people: one that is only white space would be a skip nobody can read."""
    _check_text("skip reason", value, LIMITS["skip"])
    if value and value.isspace():
        raise ProtocolError("skip reason is only white space")
    return value


def _check_text(what: str, value: str, limit: int) -> str:
    """What names and reasons share: a column length, no control or invisible formatting characters, valid
    Unicode."""
    if len(value) > limit:
        raise ProtocolError(f"{what} longer than {limit} characters")
    found = _FORBIDDEN.search(value)
    if found and _INVISIBLE.match(found.group()):
        raise ProtocolError(f"{what} contains an invisible formatting character (U+{ord(found.group()):04X})")
    if found:
        raise ProtocolError(f"{what} contains a control character")
    if _SURROGATE.search(value):
        raise ProtocolError(f"{what} contains a lone surrogate (not valid Unicode)")
    return value


def _skip(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_reason(value)
    raise ProtocolError("skip must be a bool or a string")


def _optional_version(value: Any) -> str | None:
    return None if value is None else _version(value)


def _optional_package(value: Any) -> str | None:
    """STATUS's package: null asks about the whole site (then the version must be null too)."""
    return None if value is None else _package(value)


def _any_string(field: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ProtocolError(f"{field} must be a string")
        return value

    return check


def normalise_location(location: str) -> str:
    """An archive location as Mr Chase stores and reports it: without a trailing slash (they compare equal)."""
    return location.rstrip("/") or location


def _location(value: Any) -> str:
    """PENDING's and ARCHIVED's location: an archive server's ``files.location``, normalised."""
    if not isinstance(value, str):
        raise ProtocolError("location must be a string")
    if not value:
        raise ProtocolError("location must not be empty")
    return normalise_location(_check_text("location", value, ARCHIVE_LIMITS["location"]))


def _filename(value: Any) -> str:
    """A wheel's file name in ARCHIVED: safe as a path component, and a wheel."""
    if not isinstance(value, str) or not value:
        raise ProtocolError("filename must be a non-empty string")
    _check_text("filename", value, ARCHIVE_LIMITS["filename"])
    if "/" in value or "\\" in value or value.startswith("."):
        raise ProtocolError("filename could escape the archive tree")
    if not value.endswith(".whl"):
        raise ProtocolError(f"filename {value[:50]!r} is not a wheel (.whl)")
    return value


def _archive_files(value: Any) -> list[list[str]]:
    """ARCHIVED's files: 1 to MAX_ARCHIVE_FILES [package, filename] pairs."""
    if not isinstance(value, list) or not value:
        raise ProtocolError("files must be a non-empty list of [package, filename] pairs")
    if len(value) > MAX_ARCHIVE_FILES:
        raise ProtocolError(f"files holds {len(value)} pairs, more than {MAX_ARCHIVE_FILES}")
    pairs = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ProtocolError("each of files must be a [package, filename] pair")
        pairs.append([_package(pair[0]), _filename(pair[1])])
    return pairs


def _pending(value: Any) -> dict:
    """PENDING's reply object: the location, at most MAX_ARCHIVE_FILES pairs, the total."""
    if not isinstance(value, dict) or set(value) != {"location", "files", "total"}:
        raise ProtocolError("pending must be an object of exactly location, files, total")
    if not isinstance(value["location"], str) or not isinstance(value["total"], int) \
            or isinstance(value["total"], bool) or not isinstance(value["files"], list):
        raise ProtocolError("pending location must be a string, files a list, total an int")
    if len(value["files"]) > MAX_ARCHIVE_FILES or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(name, str) for name in pair)
            for pair in value["files"]):
        raise ProtocolError(f"pending files must be at most {MAX_ARCHIVE_FILES} [package, filename] pairs")
    return value


def _object(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ProtocolError("status must be an object")
    return value


def _audit_options(value: Any) -> dict:
    """AUDIT's options: every key of AUDIT_OPTIONS and no other, each checked; returned as sent."""
    if not isinstance(value, dict) or set(value) != set(AUDIT_OPTIONS):
        raise ProtocolError(f"audit options must be an object of exactly {', '.join(AUDIT_OPTIONS)}")
    packages, repair = value["packages"], value["repair"]
    if packages is not None:
        if not isinstance(packages, list) or not packages:
            raise ProtocolError("audit packages must be null (every package) or a non-empty list of names")
        if len(packages) > MAX_AUDIT_PACKAGES:
            raise ProtocolError(f"audit packages names more than {MAX_AUDIT_PACKAGES} packages: "
                                "audit the whole site instead (packages null)")
        for name in packages:
            _package(name)
    if not isinstance(repair, list) or not all(isinstance(kind, str) for kind in repair):
        raise ProtocolError("audit repair must be a list of finding kinds (possibly empty)")
    unknown = sorted(set(repair) - set(KINDS))
    if unknown:
        raise ProtocolError(f"audit repair names unknown finding kind(s) {', '.join(unknown)[:200]}; "
                            f"the kinds are {', '.join(KINDS)}")
    _flag("verify_hashes")(value["verify_hashes"])
    min_age = value["min_age"]
    if not isinstance(min_age, int) or isinstance(min_age, bool) or min_age < 0:
        raise ProtocolError("audit min_age must be a whole number of seconds, 0 or more")
    _audit_archives(value["archives"])
    return value


def _audit_archives(archives: Any) -> None:
    """AUDIT's ``archives``: a list (possibly empty) of {location, listing}: an archive location and the absolute
    path, on this host, of the listing piw_archive ``state: listed`` wrote for it."""
    if not isinstance(archives, list) or len(archives) > MAX_AUDIT_ARCHIVES:
        raise ProtocolError(f"audit archives must be a list of at most {MAX_AUDIT_ARCHIVES} objects "
                            "{location, listing}")
    for archive in archives:
        if not isinstance(archive, dict) or set(archive) != set(AUDIT_ARCHIVE_KEYS):
            raise ProtocolError("each of audit archives must be an object of exactly location, listing")
        _location(archive["location"])
        listing = archive["listing"]
        if not isinstance(listing, str) or not listing.startswith("/"):
            raise ProtocolError("audit archives listing must be an absolute path")
        _check_text("listing", listing, MAX_LISTING_PATH)


def _job_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ProtocolError("job id must be a non-empty string")
    return _check_text("job id", value, MAX_JOB_ID)


def _offset(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError("offset must be a whole number, 0 or more")
    return value


#: PONG's health object: field -> type (health.py says what each means)
HEALTH_FIELDS = {"degraded": list, "warnings": list, "stale_pages": int, "parked_notices": int,
                 "archive_pending": int}


def _health(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) != set(HEALTH_FIELDS):
        raise ProtocolError(f"health must be an object of exactly {', '.join(HEALTH_FIELDS)}")
    for field, kind in HEALTH_FIELDS.items():
        item = value[field]
        if not isinstance(item, kind) or isinstance(item, bool):
            raise ProtocolError(f"health {field} must be a {kind.__name__}")
        if kind is list and not all(isinstance(text, str) for text in item):
            raise ProtocolError(f"health {field} must hold strings")
    return value


_package, _version = _name("package"), _name("version")

#: request type -> checkers of its elements after the type, in order
REQUESTS: dict[str, tuple[Callable[[Any], Any], ...]] = {
    "REMOVE": (_package, _version, _skip),
    "STATUS": (_optional_package, _optional_version),
    "SKIP": (_package, _reason),
    "UNSKIP": (_package, _optional_version),
    "YANK": (_package, _version, _flag("yanked")),
    "FORGET": (_package, _version),
    "DELETE": (_package,),
    "MATCH": (_package, _optional_version),
    "PENDING": (_location,),
    "ARCHIVED": (_location, _archive_files),
    "AUDIT": (_audit_options,),
    "JOB": (_job_id, _offset),
    "PING": (),
}

#: reply type -> checkers of its elements; encode_reply refuses anything else
REPLIES: dict[str, tuple[Callable[[Any], Any], ...]] = {
    "DONE": (),
    "ERROR": (_any_string("message"),),
    "STATUS": (_object,),
    "MATCH": (_object,),
    "AUDIT": (_object,),
    "JOB": (_object,),
    "PONG": (_any_string("server_version"), _health),
    "PENDING": (_pending,),
}


class Request(NamedTuple):
    type: str
    args: tuple[Any, ...]


def canonicalize(name: str) -> str:
    """PEP 503 normalised package name (``packaging``'s, as piw-master's)."""
    return str(canonicalize_name(name))


def decode_request(frame: bytes) -> Request:
    """Parse and validate one request frame; raise ProtocolError saying what is wrong."""
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    if not frame:
        raise ProtocolError("empty frame")
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("frame is not UTF-8") from None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("frame is not JSON") from None
    request = Request(*_check(message, REQUESTS, "request"))
    if request.type == "STATUS" and request.args[0] is None and request.args[1] is not None:
        raise ProtocolError("STATUS of the whole site (package null) takes null for the version too")
    return request


def _check(message: Any, table: dict[str, tuple], kind: str) -> tuple[str, tuple[Any, ...]]:
    if not isinstance(message, list):
        raise ProtocolError(f"a {kind} must be a JSON array")
    if not message:
        raise ProtocolError(f"empty {kind}")
    mtype = message[0]
    if not isinstance(mtype, str):
        raise ProtocolError("message type must be a string")
    if mtype not in table:
        raise ProtocolError(f"unknown {kind} type {mtype[:20]!r}")
    checkers = table[mtype]
    if len(message) != len(checkers) + 1:
        raise ProtocolError(f"{mtype} takes {len(checkers)} element(s) after the type, not {len(message) - 1}")
    # lengths are checked above; zip(strict=) would need Python 3.10
    return mtype, tuple([check(value) for check, value in zip(checkers, message[1:])])  # noqa: B905


def encode_reply(mtype: str, *args: Any) -> bytes:
    """One reply frame; checked against REPLIES so the service cannot send a malformed reply."""
    _check([mtype, *args], REPLIES, "reply")
    return _ENCODER.encode([mtype, *args]).encode("utf-8")


def error(message: str) -> bytes:
    return encode_reply("ERROR", message)


def invalid(problem: str) -> bytes:
    return error(f"invalid message: {problem}")
