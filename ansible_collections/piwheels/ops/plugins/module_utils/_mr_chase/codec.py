# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The wire format of the Mr Chase import queue, protocol version 1.

Every message is one frame holding a UTF-8 JSON array whose element 0 is the
message type, and each type has a fixed shape.  The shapes are declared once
here (``REQUESTS``, ``REPLIES``, ``VERSION_STATUS``, ``PACKAGE_STATUS``) and
every reply is checked against them before the modules see it, so a module
never acts on a half-understood answer.  JSON only: never pickle.
"""

from __future__ import annotations

import json
import re

__all__ = (
    "ARCHIVE_LIMITS",
    "AUDIT_ARCHIVE_KEYS",
    "AUDIT_OPTIONS",
    "COMMITTED_BUT_STALE",
    "DEFAULT_SKIP_REASON",
    "FINDING_KINDS",
    "FORBIDDEN_CHARACTERS",
    "HEALTH",
    "InvalidReply",
    "JOB",
    "JOB_STATES",
    "LIMITS",
    "MAX_AUDIT_ARCHIVES",
    "MAX_AUDIT_PACKAGES",
    "MATCH",
    "MAX_ARCHIVE_FILES",
    "NOTICES",
    "OUTBOX",
    "PACKAGE_OPTIONAL",
    "PENDING",
    "PACKAGE_STATUS",
    "REPAIRED_BY_ALL",
    "REPLIES",
    "SITE_OPTIONAL",
    "SITE_STATUS",
    "REQUESTS",
    "VERSION_OPTIONAL",
    "VERSION_STATUS",
    "archive_problem",
    "check_archive_files",
    "check_audit_options",
    "check_health",
    "check_job",
    "check_match",
    "check_pending",
    "check_site_status",
    "check_site_audit",
    "check_status",
    "decode_reply",
    "describe_frame",
    "encode_request",
    "normalise_location",
    "text_problem",
)

#: how the ERROR of a change that committed but could not write a page begins: the change happened
COMMITTED_BUT_STALE = "committed, but "

#: the reason Mr Chase records when a REMOVE asks for ``skip: true``
DEFAULT_SKIP_REASON = "removed by request"
#: column sizes of the piwheels schema; longer values are refused by Mr Chase
LIMITS = {"package": 200, "version": 200, "skip": 100}
#: an archive location (files.location) and a wheel's file name in PENDING and ARCHIVED
ARCHIVE_LIMITS = {"location": 300, "filename": 255}
#: the most [package, filename] pairs one ARCHIVED acknowledges, and one PENDING reply lists
MAX_ARCHIVE_FILES = 1000
#: refused in a package name, version or skip reason, here and by Mr Chase (tests/protocol_vectors.json pins
#: the class): C0 and C1 controls, DEL, and the Unicode line and paragraph separators, each of which can split
#: a log line; the bidirectional embeddings, overrides and isolates and the zero-width characters, each of
#: which makes a reason read other than it is
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200d\u2028-\u202e\u2060\u2066-\u2069\ufeff]")
#: the part of FORBIDDEN_CHARACTERS that is invisible rather than a control
_INVISIBLE = re.compile("[\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
#: how Mr Chase names each field of LIMITS in its messages
_FIELD_NAMES = {"package": "package", "version": "version", "skip": "skip reason"}

_STR = (str,)
_OPTIONAL_STR = (str, type(None))
_SKIP = (bool, str)
_BOOL = (bool,)

#: request type -> the types allowed for each element after the type; every string must also be non-empty
#: (Mr Chase refuses an empty name or version, and a SKIP with an empty reason: UNSKIP clears a skip)
REQUESTS = {
    "REMOVE": (_STR, _STR, _SKIP),
    "STATUS": (_OPTIONAL_STR, _OPTIONAL_STR),
    "SKIP": (_STR, _STR),
    "YANK": (_STR, _STR, _BOOL),
    "FORGET": (_STR, _STR),
    "DELETE": (_STR,),
    "UNSKIP": (_STR, _OPTIONAL_STR),
    "MATCH": (_STR, _OPTIONAL_STR),
    "PENDING": (_STR,),
    "ARCHIVED": (_STR, (list,)),
    "AUDIT": ((dict,),),
    "JOB": (_STR, (int,)),
    "PING": (),
}

#: reply type -> the types allowed for each element after the type
REPLIES = {
    "DONE": (),
    "ERROR": (_STR,),
    "STATUS": ((dict,),),
    "MATCH": ((dict,),),
    "AUDIT": ((dict,),),
    "JOB": ((dict,),),
    "PONG": (_STR, (dict,)),
    "PENDING": ((dict,),),
}

#: the site audit's finding kinds, in report order, and what ``repair: all`` means: every kind but foreign_file,
#: which is repaired only when named.  A copy of Mr Chase's findings.KINDS and REPAIRED_BY_ALL (the modules
#: cannot import the service): change both together; test_mr_chase_codec.py reads findings.py and fails when
#: they differ, and the protocol vectors' ``finding_kinds`` pin both
FINDING_KINDS = ("orphan_wheel", "missing_wheel", "hash_mismatch", "stale_page", "missing_page", "orphan_directory",
                 "broken_alias", "missing_alias", "stale_root_index", "stale_project_page", "foreign_file",
                 "leftover_staging", "orphan_archived_wheel", "missing_archived_wheel")
REPAIRED_BY_ALL = tuple(kind for kind in FINDING_KINDS if kind != "foreign_file")
#: AUDIT's options object: exactly these keys; at most MAX_AUDIT_PACKAGES names in ``packages``
AUDIT_OPTIONS = ("packages", "repair", "verify_hashes", "min_age", "archives")
#: each of AUDIT's ``archives``: exactly these keys (an archive location, the absolute path of its listing on
#: the master); at most MAX_AUDIT_ARCHIVES of them
AUDIT_ARCHIVE_KEYS, MAX_AUDIT_ARCHIVES = ("location", "listing"), 100
MAX_AUDIT_PACKAGES = 1000
JOB_STATES = ("scanning", "repairing", "done", "failed")
_OPTIONAL_INT = (int, type(None))
#: the job object of AUDIT and JOB replies (its findings are checked one by one: _FINDING)
JOB = {"id": _STR, "state": _STR, "joined": _BOOL, "options": (dict,), "started": _STR, "finished": _OPTIONAL_STR,
       "progress": (dict,), "scanned": (dict,), "counts": (dict,), "findings": (list,), "next": _OPTIONAL_INT,
       "error": _OPTIONAL_STR}
_PROGRESS = {"packages_done": (int,), "packages_total": _OPTIONAL_INT}
_SCANNED = {"packages": (int,), "files": (int,), "bytes_hashed": (int,)}
_FINDING = {"kind": _STR, "package": _OPTIONAL_STR, "path": _STR, "detail": _STR, "repaired": _BOOL}
#: the whole site's STATUS ``audit`` object: the last finished audit and the running one, each null when none
_LAST_AUDIT = {"id": _STR, "started": _STR, "finished": _STR, "options": (dict,), "counts": (dict,),
               "scanned": (dict,), "repaired": (int,)}
_RUNNING_AUDIT = {"id": _STR, "state": _STR, "started": _STR, "options": (dict,), "progress": (dict,)}

#: PONG's health object: every field, with its type (lists hold strings); ``degraded`` not empty means
#: Mr Chase answers but cannot serve changes
HEALTH = {"degraded": list, "warnings": list, "stale_pages": int, "parked_notices": int, "archive_pending": int}

#: PENDING's object: the location (normalised: no trailing slash), at most MAX_ARCHIVE_FILES of the files its
#: archive hosts still serve (``[package, filename]`` pairs, oldest first) and how many there are in all
PENDING = {"location": str, "files": list, "total": int}

#: MATCH's object: which stored version a spelling names (``matched``) and, when none, the audit log's newest
#: FORGET or DELETE of it (``removed``: request, version, time) and what was probably meant (``close``)
MATCH = {"package": _STR, "version": _OPTIONAL_STR, "exists": _BOOL, "matched": _OPTIONAL_STR,
         "removed": (dict, type(None)), "close": (list,)}
_REMOVED = {"request": _STR, "version": _OPTIONAL_STR, "time": _STR}

#: the fields of a version STATUS the modules rely on, with their types
VERSION_STATUS = {
    "package": str,
    "version": str,
    "skip": str,
    "builds": int,
    "files": list,
    "downloads": int,
}

#: the fields of a package STATUS (``["STATUS", package, null]``) the modules rely on
PACKAGE_STATUS = {
    "package": str,
    "skip": str,
    "versions": list,
}

#: the fields of the whole site's STATUS (``["STATUS", null, null]``, 0.4): the pages committed changes could
#: not write (relative paths), notices parked in ``.mr-chase/parked/``, whether piw-master is told of changes,
#: whether a change's outcome is still being settled, the archive hosts' pending lists
#: (``{location: {"pending": n}}``, only locations with something pending), the outbox of notices for
#: piw-master (OUTBOX)
SITE_STATUS = {
    "stale_pages": list,
    "parked_notices": int,
    "site_refresh": bool,
    "settling": bool,
    "archives": dict,
    "outbox": dict,
}
#: the site STATUS's ``outbox``: notices waiting for piw-master, the age in seconds of the oldest (null when
#: none), and the fate of the notice submitted last (null before the first): ``{"package": name or null
#: (a search index rebuild), "notice": one of NOTICES}``
OUTBOX = {"queued": (int,), "oldest_age": (int, float, type(None)), "last": (dict, type(None))}
_LAST_NOTICE = {"package": _OPTIONAL_STR, "notice": _STR}
#: what became of a notice: piw-master took it, it waits in the outbox (piw-master has not answered yet),
#: it was parked (never to be sent without an operator), piw-master refused it (audited), its first delivery
#: attempt is under way
NOTICES = ("delivered", "queued", "parked", "refused", "sending")
#: fields of the whole site's STATUS that a Mr Chase before the audit leaves out (``audit``: last and running)
SITE_OPTIONAL = {"audit": dict}

#: fields a Mr Chase of 0.2 adds, with their types; one that leaves them out
#: gets the type's empty value: no archived files, no piw-master to refresh the site,
#: nothing yanked, no aliases, no counts (such a Mr Chase cannot YANK, FORGET or DELETE either);
#: ``stale_pages`` (0.4): the package's pages a committed change could not write
#: ``archive_locations`` (0.4): {filename: location} of each archived file (a version's, or the whole package's)
VERSION_OPTIONAL = {"yanked": bool, "archived": list, "site_refresh": bool, "settling": bool, "stale_pages": list,
                    "archive_locations": dict}
PACKAGE_OPTIONAL = {
    "site_refresh": bool,
    "settling": bool,
    "stale_pages": list,
    "yanked": list,
    "builds": int,
    "file_count": int,
    "archived_count": int,
    "downloads": int,
    "aliases": list,
    "archive_locations": dict,
}

_SHOWN_CHARS = 200


class InvalidReply(ValueError):
    """A reply that does not follow the protocol; the text says which rule it broke."""


def _matches(value, allowed):
    """isinstance, except that a JSON true/false never passes for a number."""
    if isinstance(value, bool) and bool not in allowed:
        return False
    return isinstance(value, allowed)


def encode_request(*message):
    """Encode a request as its one frame; a malformed request is a bug here, so ValueError."""
    if not message or message[0] not in REQUESTS:
        raise ValueError(f"unknown request type in {message!r}")
    shape = REQUESTS[message[0]]
    args = message[1:]
    if len(args) != len(shape) or not all(_matches(args[i], allowed) for i, allowed in enumerate(shape)):
        raise ValueError(f"request {message!r} does not match its declared shape")
    if any(arg == "" for arg in args):
        raise ValueError(f"request {message!r} has an empty string, which Mr Chase refuses")
    if message[0] == "STATUS" and args[0] is None and args[1] is not None:
        raise ValueError(f"request {message!r}: the whole site's STATUS takes null for the version too")
    if message[0] in ("PENDING", "ARCHIVED"):
        problem = archive_problem(*args)
        if problem:
            raise ValueError(f"request {message[0]}: {problem}")
    if message[0] == "AUDIT":
        check_audit_options(args[0])
    if message[0] == "JOB" and args[1] < 0:
        raise ValueError(f"request {message!r}: the offset is 0 or more")
    return json.dumps(list(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_reply(frame):
    """Decode one reply frame into a list ``[type, *args]``, or raise InvalidReply saying why."""
    try:
        reply = json.loads(frame.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidReply("not UTF-8") from None
    except (ValueError, RecursionError):
        raise InvalidReply("not JSON") from None
    if not isinstance(reply, list):
        raise InvalidReply("not a JSON array")
    if not reply:
        raise InvalidReply("empty array")
    kind = reply[0]
    if kind not in REPLIES:
        raise InvalidReply("unknown reply type")
    shape = REPLIES[kind]
    if len(reply) - 1 != len(shape):
        raise InvalidReply(f"{kind} takes {len(shape)} element(s) after the type, got {len(reply) - 1}")
    for position, allowed in enumerate(shape, start=1):
        if not _matches(reply[position], allowed):
            raise InvalidReply(f"element {position} of {kind} has the wrong type")
    if kind == "PONG":
        check_health(reply[2])
    if kind == "MATCH":
        check_match(reply[1])
    if kind == "PENDING":
        check_pending(reply[1])
    if kind in ("AUDIT", "JOB"):
        check_job(reply[1])
    return reply


def check_status(status, fields, optional=None):
    """Check that a STATUS object carries ``fields`` (VERSION_STATUS or PACKAGE_STATUS) with their types.

    ``optional`` (VERSION_OPTIONAL or PACKAGE_OPTIONAL) are checked when
    present and filled in with their type's empty value when not, so the
    modules work with a Mr Chase that predates them.  Extra fields are
    allowed: the protocol promises "at least" these, and a newer Mr Chase
    may say more.
    """
    optional = optional or {}
    for name, kind in optional.items():
        status.setdefault(name, kind())
    _check_fields("STATUS", status, {**fields, **optional})
    return status


def text_problem(field, value):
    """Why Mr Chase would refuse ``value`` as a ``field`` of LIMITS (package, version, skip), in the words of its
    ``invalid message: ...`` reply; None when it would take it.  The modules ask before they send anything."""
    problem = _text_problem(_FIELD_NAMES[field], value, LIMITS[field])
    if problem is None and field == "skip" and value.isspace():
        return "skip reason is only white space"
    return problem


def _text_problem(what, value, limit):
    """Why Mr Chase would refuse ``value`` as its ``what`` (at most ``limit`` characters); None if it takes it."""
    if len(value) > limit:
        return f"{what} longer than {limit} characters"
    found = FORBIDDEN_CHARACTERS.search(value)
    if found and _INVISIBLE.match(found.group()):
        return f"{what} contains an invisible formatting character (U+{ord(found.group()):04X})"
    if found:
        return f"{what} contains a control character"
    return None


def normalise_location(location):
    """An archive location as Mr Chase reports it: without a trailing slash (they compare equal)."""
    return location.rstrip("/") or location


def archive_problem(location, files=None):
    """Why Mr Chase would refuse a PENDING (``files`` None) or ARCHIVED request, in the words of its
    ``invalid message: ...`` reply; None when it would take it."""
    problem = _string_problem("location", location, ARCHIVE_LIMITS["location"])
    if problem or files is None:
        return problem
    if not isinstance(files, list) or not files:
        return "files must be a non-empty list of [package, filename] pairs"
    if len(files) > MAX_ARCHIVE_FILES:
        return f"files holds {len(files)} pairs, more than {MAX_ARCHIVE_FILES}"
    for pair in files:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:  # noqa: UP038 (3.8)
            return "each of files must be a [package, filename] pair"
        problem = check_archive_files(*pair)
        if problem:
            return problem
    return None


def check_archive_files(package, filename):
    """Why Mr Chase would refuse one [package, filename] pair of ARCHIVED; None when it would take it."""
    problem = _string_problem("package", package, LIMITS["package"])
    if problem:
        return problem
    if "/" in package or "\\" in package or ".." in package:
        return "package could escape the output tree"
    if not isinstance(filename, str) or not filename:
        return "filename must be a non-empty string"
    problem = _text_problem("filename", filename, ARCHIVE_LIMITS["filename"])
    if problem:
        return problem
    if "/" in filename or "\\" in filename or filename.startswith("."):
        return "filename could escape the archive tree"
    if not filename.endswith(".whl"):
        return f"filename {filename[:50]!r} is not a wheel (.whl)"
    return None


def _string_problem(what, value, limit):
    """A name Mr Chase takes: a non-empty string within ``limit``, with no control or invisible character."""
    if not isinstance(value, str):
        return f"{what} must be a string"
    if not value:
        return f"{what} must not be empty"
    return _text_problem(what, value, limit)


def check_pending(pending):
    """Check PENDING's object: its fields with their types, and files as [package, filename] pairs."""
    for name, kind in PENDING.items():
        if name not in pending:
            raise InvalidReply(f"PENDING lacks {name!r}")
        if not _matches(pending[name], (kind,)):
            raise InvalidReply(f"PENDING field {name!r} has the wrong type")
    if len(pending["files"]) > MAX_ARCHIVE_FILES or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(name, str) for name in pair)
        for pair in pending["files"]
    ):
        raise InvalidReply(f"PENDING files must be at most {MAX_ARCHIVE_FILES} [package, filename] pairs")
    return pending


def check_health(health):
    """Check PONG's health object against HEALTH, field by field."""
    _check_fields("PONG's health", health, HEALTH)
    return health


def check_site_status(status):
    """Check the whole site's STATUS: SITE_STATUS, then its ``outbox`` (OUTBOX) and the last notice's fate."""
    _check_fields("STATUS", status, SITE_STATUS)
    outbox = status["outbox"]
    _check_fields("STATUS outbox", outbox, OUTBOX)
    if outbox["last"] is not None:
        _check_fields("STATUS outbox", outbox["last"], _LAST_NOTICE)
        if outbox["last"]["notice"] not in NOTICES:
            raise InvalidReply(f"STATUS outbox: unknown notice state {outbox['last']['notice']!r}")
    return status


def check_audit_options(options):
    """ValueError unless ``options`` is an AUDIT options object Mr Chase takes (a bug in the caller: the modules
    check their parameters first)."""
    if not isinstance(options, dict) or set(options) != set(AUDIT_OPTIONS):
        raise ValueError(f"audit options must be an object of exactly {', '.join(AUDIT_OPTIONS)}")
    packages, repair, min_age = options["packages"], options["repair"], options["min_age"]
    if packages is not None and not (isinstance(packages, list) and 0 < len(packages) <= MAX_AUDIT_PACKAGES
                                     and all(isinstance(name, str) and name for name in packages)):
        raise ValueError(f"audit packages must be null or a list of 1 to {MAX_AUDIT_PACKAGES} package names")
    if not isinstance(repair, list) or not all(kind in FINDING_KINDS for kind in repair):
        raise ValueError(f"audit repair must be a list of finding kinds ({', '.join(FINDING_KINDS)})")
    if not isinstance(options["verify_hashes"], bool):
        raise ValueError("audit verify_hashes must be true or false")
    if not _matches(min_age, (int,)) or min_age < 0:
        raise ValueError("audit min_age must be a whole number of seconds, 0 or more")
    _check_audit_archives(options["archives"])
    return options


def _check_audit_archives(archives):
    """ValueError unless ``archives`` is a list of {location, listing} Mr Chase takes."""
    if not isinstance(archives, list) or len(archives) > MAX_AUDIT_ARCHIVES:
        raise ValueError(f"audit archives must be a list of at most {MAX_AUDIT_ARCHIVES} objects {{location, listing}}")
    for archive in archives:
        if not isinstance(archive, dict) or set(archive) != set(AUDIT_ARCHIVE_KEYS):
            raise ValueError("each of audit archives must be an object of exactly location, listing")
        problem = archive_problem(archive["location"])
        if problem:
            raise ValueError(f"audit archives: {problem}")
        listing = archive["listing"]
        if not isinstance(listing, str) or not listing.startswith("/") or FORBIDDEN_CHARACTERS.search(listing):
            raise ValueError("audit archives listing must be an absolute path")


def check_job(job):
    """Check the job object of an AUDIT or JOB reply: its fields, its progress, counts of every kind, and each
    finding."""
    _check_fields("the audit job", job, {name: kind for name, kind in JOB.items() if name != "findings"})
    if not isinstance(job.get("findings"), list):
        raise InvalidReply("the audit job lacks 'findings', or it is not a list")
    if job["state"] not in JOB_STATES:
        raise InvalidReply(f"the audit job's state {job['state'][:40]!r} is none of {', '.join(JOB_STATES)}")
    _check_fields("the audit job's progress", job["progress"], _PROGRESS)
    _check_fields("the audit job's scanned", job["scanned"], _SCANNED)
    _check_fields("the audit job's counts", job["counts"], dict.fromkeys(FINDING_KINDS, (int,)))
    for finding in job["findings"]:
        if not isinstance(finding, dict):
            raise InvalidReply("the audit job's findings hold something other than objects")
        _check_fields("a finding", finding, _FINDING)
        if finding["kind"] not in FINDING_KINDS:
            raise InvalidReply(f"a finding of unknown kind {finding['kind'][:40]!r}")
    return job


def check_site_audit(audit):
    """Check (and complete) the whole site's STATUS ``audit`` object: ``last`` and ``running``, each null or an
    object of their fields; a Mr Chase that sends neither reports no audit."""
    audit.setdefault("last", None)
    audit.setdefault("running", None)
    if audit["last"] is not None:
        _check_object("the last audit", audit["last"], _LAST_AUDIT)
    if audit["running"] is not None:
        _check_object("the running audit", audit["running"], _RUNNING_AUDIT)
    return audit


def _check_object(what, found, fields):
    if not isinstance(found, dict):
        raise InvalidReply(f"{what} is not an object")
    _check_fields(what, found, fields)


def check_match(match):
    """Check MATCH's object: every field of MATCH with its type, and ``removed`` when it is a record."""
    _check_fields("MATCH", match, MATCH)
    if match["removed"] is not None:
        _check_fields("MATCH", match["removed"], _REMOVED)
    return match


def _check_fields(what, found, fields):
    """Each of ``fields`` (name: a type or a tuple of types) in the object ``found`` of ``what``, with its type;
    a list holds strings only."""
    for name, allowed in fields.items():
        allowed = allowed if isinstance(allowed, tuple) else (allowed,)
        if name not in found:
            raise InvalidReply(f"{what} lacks {name!r}")
        if not _matches(found[name], allowed):
            raise InvalidReply(f"{what} field {name!r} has the wrong type")
        if isinstance(found[name], list) and not all(isinstance(item, str) for item in found[name]):
            raise InvalidReply(f"{what} field {name!r} holds something other than strings")


def describe_frame(frame):
    """Show a received frame in an error message: readable, and short even if the frame is not."""
    text = repr(frame.decode("utf-8", errors="replace"))
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + f"... ({len(frame)} bytes)"
    return text
