"""The codec on its own: canonical names, refused names, reply checking, version order."""

from __future__ import annotations

import pytest
from mr_chase.protocol import ProtocolError, canonicalize, decode_request, encode_reply
from mr_chase.versions import version_key


@pytest.mark.parametrize("name, canonical", [
    ("Alpha", "alpha"), ("BETA_tools", "beta-tools"), ("a.b-_c", "a-b-c"), ("zope.interface", "zope-interface"),
])
def test_canonicalize(name, canonical):
    assert canonicalize(name) == canonical


@pytest.mark.parametrize("package", ["a\\b", "a/b", "..", "a..b", "a\x00", "a\tb", "a\x7fb", ""])
def test_unsafe_package_names_are_refused(package):
    frame = ('["STATUS", ' + __import__("json").dumps(package) + ", null]").encode()
    with pytest.raises(ProtocolError):
        decode_request(frame)


def test_limits_are_inclusive():
    decode_request(f'["REMOVE", "{"a" * 200}", "{"1" * 200}", "{"x" * 100}"]'.encode())
    with pytest.raises(ProtocolError, match="version longer than 200"):
        decode_request(f'["REMOVE", "a", "{"1" * 201}", true]'.encode())


def test_deeply_nested_json_is_refused_not_crashing():
    with pytest.raises(ProtocolError):
        decode_request(b"[" * 60000 + b"]" * 5536)


def test_service_cannot_send_a_malformed_reply():
    assert encode_reply("DONE") == b'["DONE"]'
    with pytest.raises(ProtocolError):
        encode_reply("ERROR")
    with pytest.raises(ProtocolError):
        encode_reply("STATUS", [])


def test_versions_sort_in_pep440_order():
    versions = ["1.10", "1.9", "1.0", "2.0", "1.0.1", "1.0rc1", "1.0.dev1", "1.0.post2", "1!0.1", "1.0+local",
                "not a version", "1.0a1", "1.0b2.post1"]
    assert sorted(versions, key=version_key) == [
        "not a version", "1.0.dev1", "1.0a1", "1.0b2.post1", "1.0rc1", "1.0", "1.0+local", "1.0.post2", "1.0.1",
        "1.9", "1.10", "2.0", "1!0.1"]


def test_versions_pep440_rejects_sort_first_in_piw_masters_order():
    """The issue's example, and the order piw-master's pages give (piwheels/master/version.py: packaging's
    Version, else the vendored packaging 21 LegacyVersion, epoch -1); the expected list was produced by
    piw-master's own sort key."""
    assert sorted(["2.0", "latest", "1.0", "1.0.x"], key=version_key) == ["latest", "1.0.x", "1.0", "2.0"]
    master = ["dev", "latest", "x.y.z", "1.0.dev-x", "1.0-pre-x", "1.0-rc1x", "1..0", "1.0-final", "1.0-SNAPSHOT",
              "1.0.x", "1.0.1-SNAPSHOT", "2020.01.01-r1x", "1.0", "2.0"]
    assert sorted(reversed(master), key=version_key) == master


def test_versions_that_pep440_calls_equal_sort_together():
    assert version_key("1.0") == version_key("1.0.0") == version_key("v1.0")
    assert version_key("1.0alpha1") == version_key("1.0a1")


def test_version_key_orders_pep440_versions_exactly_as_packaging_does():
    """version_key spells packaging's comparison key in plain types (for speed): the two must never disagree."""
    import itertools
    import random

    from packaging.version import Version

    pieces = ["", "a1", "b2", "rc1", ".post1", ".dev0", ".dev3", "a1.dev1", ".post2.dev1", "+local", "+7", "+a.1",
              "+1.b"]
    releases = ["0", "0.0", "1", "1.0", "1.0.0", "1.0.1", "1.1", "1.10", "2", "1!0.5", "2!0"]
    versions = [release + piece for release, piece in itertools.product(releases, pieces)]
    random.Random(440).shuffle(versions)
    for left, right in itertools.product(versions, repeat=2):
        assert (version_key(left) < version_key(right)) == (Version(left) < Version(right)), (left, right)
        assert (version_key(left) == version_key(right)) == (Version(left) == Version(right)), (left, right)


def test_forbidden_characters_are_the_ones_the_vectors_pin():
    """One definition of what may never appear in a name or reason, shared with the module's check."""
    import json
    import re
    import sys

    from chase_helpers import PROTOCOL_VECTORS
    from mr_chase import protocol

    pinned = re.compile(json.loads(PROTOCOL_VECTORS.read_text())["forbidden_characters"])
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates: refused by their own check
        assert bool(pinned.match(char)) == bool(protocol._FORBIDDEN.match(char)), hex(code)


def test_the_whole_site_s_status_takes_no_version():
    assert decode_request(b'["STATUS",null,null]').args == (None, None)
    with pytest.raises(ProtocolError, match="takes null for the version too"):
        decode_request(b'["STATUS",null,"1.0"]')
