# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The codec against the shared protocol vectors, without any socket."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase import codec


def test_codec_constants_match_the_vectors(vectors):
    assert vectors["default_skip_reason"] == codec.DEFAULT_SKIP_REASON
    assert vectors["limits"] == codec.LIMITS
    assert vectors["archive_limits"] == {**codec.ARCHIVE_LIMITS, "files": codec.MAX_ARCHIVE_FILES}
    assert set(codec.REQUESTS) == set(vectors["requests"])
    assert {kind: len(shape) for kind, shape in codec.REQUESTS.items()} == {
        kind: len(shape) for kind, shape in vectors["requests"].items()
    }
    assert {kind: len(shape) for kind, shape in codec.REPLIES.items()} == {
        kind: len(shape) for kind, shape in vectors["replies"].items()
    }


def test_codec_pins_the_finding_kinds_and_audit_limits(vectors):
    assert list(codec.FINDING_KINDS) == vectors["finding_kinds"]
    assert tuple(kind for kind in codec.FINDING_KINDS if kind != "foreign_file") == codec.REPAIRED_BY_ALL
    assert vectors["max_audit_packages"] == codec.MAX_AUDIT_PACKAGES


#: Mr Chase's findings.py, in the role's files (the collection's tree, as ansible-test copies it)
FINDINGS_PY = Path(__file__).resolve().parents[4] / "roles" / "mr_chase" / "files" / "mr_chase" / "findings.py"


def service_constant(path, name):
    """The literal value assigned to ``name`` in a service module, read without importing the service."""
    module = ast.parse(path.read_text(encoding="utf-8"))
    for node in module.body:
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no literal {name}")


def test_finding_kinds_are_mr_chases_own_in_the_same_order():
    kinds = service_constant(FINDINGS_PY, "KINDS")
    assert kinds == codec.FINDING_KINDS
    assert tuple(kind for kind in kinds if kind != "foreign_file") == codec.REPAIRED_BY_ALL


GOOD_OPTIONS = {"packages": None, "repair": [], "verify_hashes": False, "min_age": 3600, "archives": []}


@pytest.mark.parametrize("options", [
    [], {"packages": None}, {**GOOD_OPTIONS, "force": True}, {**GOOD_OPTIONS, "packages": []},
    {**GOOD_OPTIONS, "packages": "alpha"}, {**GOOD_OPTIONS, "packages": ["a"] * 1001},
    {**GOOD_OPTIONS, "packages": [""]},
    {**GOOD_OPTIONS, "repair": "all"}, {**GOOD_OPTIONS, "repair": ["everything"]},
    {**GOOD_OPTIONS, "verify_hashes": 1}, {**GOOD_OPTIONS, "min_age": -1}, {**GOOD_OPTIONS, "min_age": True},
    {**GOOD_OPTIONS, "min_age": 1.5},
])
def test_audit_options_mr_chase_would_refuse_are_refused_before_sending(options):
    with pytest.raises(ValueError):
        codec.encode_request("AUDIT", options)


def test_job_offsets_are_whole_and_not_negative():
    assert json.loads(codec.encode_request("JOB", "x", 500)) == ["JOB", "x", 500]
    for offset in (-1, True, 1.5, None):
        with pytest.raises(ValueError):
            codec.encode_request("JOB", "x", offset)


def test_the_site_audit_object_is_completed_and_checked(vectors):
    assert codec.check_site_audit({}) == {"last": None, "running": None}
    site = next(vector["reply"][1] for vector in vectors["valid_replies"] if vector.get("site") and "audit" in
                vector["reply"][1])
    assert codec.check_site_audit(dict(site["audit"])) == site["audit"]
    with pytest.raises(codec.InvalidReply, match="repaired"):
        codec.check_site_audit({"last": {**site["audit"]["last"], "repaired": "0"}, "running": None})
    with pytest.raises(codec.InvalidReply, match="not an object"):
        codec.check_site_audit({"last": [], "running": None})


def test_every_valid_request_encodes_as_one_utf8_json_array(vectors):
    for vector in vectors["valid_requests"]:
        frame = codec.encode_request(*vector["request"])
        assert json.loads(frame.decode("utf-8")) == vector["request"]


@pytest.mark.parametrize(
    "message",
    [(), ("FROB",), ("PING", 1), ("REMOVE", "alpha", "1.0"), ("REMOVE", "alpha", "1.0", None), ("SKIP", "alpha", None),
     ("STATUS", None, "1.0")],
)
def test_malformed_requests_are_refused_before_sending(message):
    with pytest.raises(ValueError):
        codec.encode_request(*message)


def test_every_valid_reply_decodes_unchanged(vectors):
    for vector in vectors["valid_replies"]:
        frame = json.dumps(vector["reply"]).encode("utf-8")
        assert codec.decode_reply(frame) == vector["reply"]


def test_every_invalid_reply_is_refused(vectors):
    for vector in vectors["invalid_replies"]:
        with pytest.raises(codec.InvalidReply):
            reply = codec.decode_reply(vector["frame"].encode("utf-8"))
            if vector.get("status"):  # a well-formed frame whose STATUS object breaks a field's type
                check_any_status(reply[1])


def check_any_status(status):
    """Check a STATUS object as the client checks the kind it asked for."""
    if "package" not in status:
        return codec.check_site_status(status)
    return codec.check_status(status, *status_shape(status))


def status_shape(status):
    """The fields a STATUS object must have: a version's when it names one, else a package's."""
    if "version" in status:
        return codec.VERSION_STATUS, codec.VERSION_OPTIONAL
    if "package" not in status:
        return codec.SITE_STATUS, None
    return codec.PACKAGE_STATUS, codec.PACKAGE_OPTIONAL


@pytest.mark.parametrize(
    "message",
    [
        ("YANK", "alpha", "1.0", True),
        ("YANK", "alpha", "1.0", False),
        ("FORGET", "alpha", "1.0"),
        ("DELETE", "alpha"),
        ("UNSKIP", "alpha", None),
        ("UNSKIP", "alpha", "1.0"),
    ],
)
def test_each_new_request_encodes_with_its_declared_shape(message):
    assert json.loads(codec.encode_request(*message)) == list(message)


@pytest.mark.parametrize(
    "message",
    [
        ("YANK", "alpha", "1.0", 1),
        ("YANK", "alpha", "1.0", "true"),
        ("YANK", "alpha", "1.0"),
        ("YANK", "alpha", None, True),
        ("FORGET", "alpha", None),
        ("FORGET", "alpha"),
        ("DELETE",),
        ("DELETE", None),
        ("DELETE", "alpha", "1.0"),
        ("UNSKIP", "alpha"),
        ("UNSKIP", "alpha", 1),
        ("SKIP", "alpha", ""),
        ("FORGET", "alpha", ""),
        ("DELETE", ""),
    ],
)
def test_malformed_new_requests_are_refused_before_sending(message):
    with pytest.raises(ValueError):
        codec.encode_request(*message)


def test_a_package_status_of_0_2_carries_its_totals():
    status = {"package": "alpha", "skip": "", "versions": ["1.0"], "yanked": [], "builds": 1, "file_count": 2,
              "archived_count": 0, "downloads": 6, "aliases": ["Alpha"]}
    assert codec.check_status(status, codec.PACKAGE_STATUS, codec.PACKAGE_OPTIONAL)["file_count"] == 2


def test_a_package_status_of_0_1_reads_as_empty_totals():
    status = codec.check_status({"package": "alpha", "skip": "", "versions": []}, codec.PACKAGE_STATUS,
                                codec.PACKAGE_OPTIONAL)
    assert (status["yanked"], status["aliases"], status["builds"], status["file_count"]) == ([], [], 0, 0)


def test_a_version_status_without_yanked_reads_as_not_yanked():
    status = {"package": "alpha", "version": "1.0", "skip": "", "builds": 1, "files": [], "downloads": 0}
    assert codec.check_status(status, codec.VERSION_STATUS, codec.VERSION_OPTIONAL)["yanked"] is False


def test_non_utf8_reply_is_refused():
    with pytest.raises(codec.InvalidReply, match="not UTF-8"):
        codec.decode_reply(b"\xff\xfe[]")


def test_json_true_is_not_a_count():
    status = {"package": "alpha", "version": "1.0", "skip": "", "builds": True, "files": [], "downloads": 0}
    with pytest.raises(codec.InvalidReply, match="builds"):
        codec.check_status(status, codec.VERSION_STATUS)


def test_status_without_a_promised_field_is_refused():
    with pytest.raises(codec.InvalidReply, match="versions"):
        codec.check_status({"package": "alpha", "skip": ""}, codec.PACKAGE_STATUS)


def test_status_files_must_be_names():
    status = {"package": "alpha", "version": "1.0", "skip": "", "builds": 1, "files": [1], "downloads": 0}
    with pytest.raises(codec.InvalidReply, match="files"):
        codec.check_status(status, codec.VERSION_STATUS)


def test_status_may_say_more_than_promised():
    status = {"package": "alpha", "skip": "", "versions": [], "description": "new field"}
    assert codec.check_status(status, codec.PACKAGE_STATUS) is status


def test_a_huge_frame_is_shown_short():
    shown = codec.describe_frame(b"x" * 100000)
    assert len(shown) < 300
    assert "100000 bytes" in shown


def test_fields_a_0_1_mr_chase_leaves_out_read_as_empty():
    status = {"package": "alpha", "version": "1.0", "skip": "", "builds": 1, "files": ["a.whl"], "downloads": 0}
    codec.check_status(status, codec.VERSION_STATUS, codec.VERSION_OPTIONAL)
    assert status["archived"] == []
    assert status["site_refresh"] is False


@pytest.mark.parametrize("field, value", [("archived", "a.whl"), ("archived", [1]), ("site_refresh", 1)])
def test_fields_of_0_2_must_have_their_types(field, value):
    status = {"package": "alpha", "version": "1.0", "skip": "", "builds": 1, "files": [], "downloads": 0}
    status[field] = value
    with pytest.raises(codec.InvalidReply, match=field):
        codec.check_status(status, codec.VERSION_STATUS, codec.VERSION_OPTIONAL)


def test_the_forbidden_characters_are_the_ones_the_vectors_pin(vectors):
    """One class on both sides: the module refuses exactly what Mr Chase refuses."""
    pinned = re.compile(vectors["forbidden_characters"])
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(pinned.match(char)) == bool(codec.FORBIDDEN_CHARACTERS.match(char)), hex(code)


#: the LIMITS field of each element of the requests the vectors pin errors for (None: not text)
_TEXT_FIELDS = {"REMOVE": ("package", "version", "skip"), "SKIP": ("package", "skip"), "STATUS": ("package", "version"),
                "YANK": ("package", "version", None)}


def expanded(vector):
    """A vector's frame with its placeholders expanded (``expand``: placeholder -> [text, times])."""
    text = vector["frame"]
    for placeholder, (piece, count) in vector.get("expand", {}).items():
        text = text.replace(placeholder, piece * count)
    return text


def test_the_module_refuses_names_and_reasons_in_mr_chase_s_words(vectors):
    """Every invalid request whose vector pins Mr Chase's error: the module's own check finds the same problem
    (so a task fails before it sends anything, saying what Mr Chase would say)."""
    pinned = [vector for vector in vectors["invalid_requests"]
              if "error" in vector and expand(vector)[0] not in ARCHIVE_REQUESTS]
    assert len(pinned) >= 10
    for vector in pinned:
        message = json.loads(expanded(vector))
        if message[0] == "AUDIT" and vector["error"].startswith("invalid message: package"):
            continue  # a name in AUDIT's packages: the module checks each name as it checks REMOVE's
        if message[0] in ("AUDIT", "JOB"):  # not text: the codec refuses them before sending
            with pytest.raises(ValueError):
                codec.encode_request(*message)
            continue
        fields = zip(_TEXT_FIELDS[message[0]], message[1:], strict=True)
        problems = [codec.text_problem(field, value) for field, value in fields
                    if field is not None and isinstance(value, str)]
        assert "invalid message: " + next(problem for problem in problems if problem) == vector["error"], vector


#: PENDING and ARCHIVED: their arguments are checked by codec.archive_problem
ARCHIVE_REQUESTS = {"PENDING": 1, "ARCHIVED": 2}


def expand(vector):
    """The frame of a vector, its placeholders expanded (a location over the limit, 1,001 pairs)."""
    text = vector["frame"]
    for placeholder, (chars, count) in vector.get("expand", {}).items():
        text = text.replace(placeholder, chars * count)
    return json.loads(text)


def test_the_module_refuses_pending_and_archived_in_mr_chase_s_words(vectors):
    """Every PENDING or ARCHIVED vector whose error Mr Chase's words pin (and whose arity is right): the
    module's own check says the same, and encode_request refuses to send it."""
    pinned = [(expand(vector), vector) for vector in vectors["invalid_requests"] if "error" in vector]
    pinned = [(message, vector) for message, vector in pinned
              if message[0] in ARCHIVE_REQUESTS and len(message) == ARCHIVE_REQUESTS[message[0]] + 1]
    assert len(pinned) >= 10
    for message, vector in pinned:
        assert "invalid message: " + codec.archive_problem(*message[1:]) == vector["error"], vector
        with pytest.raises(ValueError):
            codec.encode_request(*message)


def test_good_pending_and_archived_requests_pass_the_module_s_check(vectors):
    for vector in vectors["valid_requests"]:
        if vector["request"][0] in ARCHIVE_REQUESTS:
            assert codec.archive_problem(*vector["request"][1:]) is None


def test_locations_compare_without_a_trailing_slash():
    assert codec.normalise_location("https://a.example/simple/") == "https://a.example/simple"
    assert codec.normalise_location("https://a.example/simple") == "https://a.example/simple"


@pytest.mark.parametrize("value", ["a reason", "  padded  ", "na\u00efve \u2013 \u201cquoted\u201d", "x" * 100])
def test_ordinary_reasons_pass_the_module_s_check(value):
    assert codec.text_problem("skip", value) is None


def test_the_whole_site_s_status_is_checked_against_its_fields(vectors):
    site = [vector["reply"][1] for vector in vectors["valid_replies"] if vector.get("site")]
    assert site, "the vectors pin a site STATUS"
    for status in site:
        assert codec.check_site_status(dict(status)) == status
    with pytest.raises(codec.InvalidReply):
        codec.check_site_status({**site[0], "settling": "no"})
    with pytest.raises(codec.InvalidReply):
        codec.check_site_status({**site[0], "outbox": {"queued": 0, "oldest_age": True, "last": None}})
