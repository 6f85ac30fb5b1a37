"""PEP 440 order and equality of version strings, as piw-master orders releases on its pages.

Versions that follow PEP 440 are parsed, compared and sorted by the
``packaging`` library (``packaging.version.Version``), as piw-master does.
piwheels also holds versions PEP 440 rejects ("latest", "1.0.x"): piw-master
(piwheels/master/version.py) sorts those with the ``LegacyVersion`` that
packaging dropped in 22.0, whose epoch of -1 puts every one of them before
every PEP 440 version and orders them among themselves by setuptools'
pre-PEP 440 rule.  ``_legacy_parts`` is that rule, so Mr Chase's pages,
STATUS and the modules' plans list versions in the one order piw-master's
pages use.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

from packaging.version import InvalidVersion, Version

__all__ = ["close_versions", "equal_version", "newest_first", "version_key"]

#: setuptools' legacy tokens and their substitutes (piw-master's vendored packaging 21 LegacyVersion)
_LEGACY_TOKEN = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_REPLACE = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}
#: a release without a dev segment sorts after each of its dev releases
_AFTER_EVERY_DEV = float("inf")


@lru_cache(maxsize=4096)
def parsed(version: str) -> Version | None:
    """The PEP 440 version, or None for a string PEP 440 rejects."""
    try:
        return Version(version)
    except InvalidVersion:
        return None


@lru_cache(maxsize=4096)
def version_key(version: str) -> tuple:
    """A key that sorts version strings oldest first, as piw-master does (1.0 and 1.0.0 sort together)."""
    valid = parsed(version)
    if valid is None:
        return (-1, _legacy_parts(version))
    return (0, *_pep440_parts(valid))


def _pep440_parts(version: Version) -> tuple:
    """packaging's own comparison key (``Version._key``) spelt in ints, strings and tuples.

    packaging compares through objects with Python ``__lt__`` methods; a page
    of 2,000 releases made about half a million such calls per rewrite.  These
    parts sort the same (pinned by tests/service/test_protocol.py against
    ``Version``) and compare at C speed.
    """
    release = version.release
    while release and release[-1] == 0:
        release = release[:-1]
    if version.pre is not None:
        pre = (1, *version.pre)
    elif version.post is None and version.dev is not None:
        pre = (0, "", 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (2, "", 0)
    post = -1 if version.post is None else version.post
    dev = _AFTER_EVERY_DEV if version.dev is None else version.dev
    local = () if version.local is None else tuple(
        (1, int(part), "") if part.isdigit() else (0, 0, part) for part in version.local.split("."))
    return (version.epoch, release, pre, post, dev, local)


def _legacy_parts(version: str) -> tuple[str, ...]:
    """setuptools' key for a version PEP 440 rejects: zero-padded numbers, ``*``-marked words, then ``*final``."""
    parts: list[str] = []
    for token in [*_LEGACY_TOKEN.split(version.lower()), "final"]:
        part = _LEGACY_REPLACE.get(token, token)
        if not part or part == ".":
            continue
        if part[:1].isdigit():
            parts.append(part.zfill(8))
            continue
        part = "*" + part
        if part < "*final":  # a pre-release word drops the "-" before it
            while parts and parts[-1] == "*final-":
                parts.pop()
        while parts and parts[-1] == "00000000":  # 1.0.x == 1.x
            parts.pop()
        parts.append(part)
    return tuple(parts)


def newest_first(versions) -> list[str]:
    """The versions, newest first."""
    return sorted(versions, key=version_key, reverse=True)


def equal_version(asked: str, stored) -> str | None:
    """The stored version that ``asked`` spells (1.1.0 and v1.1 spell 1.1, by PEP 440); None if none does.

    The exact string wins; a string PEP 440 rejects equals only itself.
    """
    stored = list(stored)
    if asked in stored:
        return asked
    wanted = parsed(asked)
    if wanted is None:
        return None
    return next((version for version in stored if parsed(version) == wanted), None)


def close_versions(asked: str, stored) -> list[str]:
    """What ``asked`` may have meant: for a PEP 440 version the stored ones either side of it (1.20: 1.2),
    else similar spellings, else those either side."""
    stored = sorted(stored, key=version_key)
    similar = [] if parsed(asked) else difflib.get_close_matches(asked, stored, n=3, cutoff=0.6)
    if similar:
        return similar
    key = version_key(asked)
    below = [version for version in stored if version_key(version) < key]
    above = [version for version in stored if version_key(version) > key]
    return below[-1:] + above[:1]
