# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""PEP 440 order for version strings, without the ``packaging`` library.

Operators read lists of versions in results, plans and summaries; sorted as
text, 1.10 comes before 1.9.  The modules run on the master host, where only
the standard library and pyzmq can be assumed, so the comparison key that
``packaging.version.Version`` defines is rebuilt here from PEP 440's grammar.
A string that is not a PEP 440 version sorts after every valid one, by text.
"""

from __future__ import annotations

import re

__all__ = ("pep440_key", "pep440_sorted")

# PEP 440's permissive grammar (Appendix B), as packaging writes it
_VERSION = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
# ranks that stand for packaging's -Infinity / +Infinity in one position of the key
_LOWEST, _LOW, _HIGH = -1, 0, 1


def pep440_key(version):
    """A sort key that orders version strings as PEP 440 does (``packaging``'s ``Version``)."""
    match = _VERSION.match(version)
    if match is None:
        return (1, version)
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()  # 1.0 == 1.0.0
    return (0, int(match["epoch"] or 0), tuple(release), *_suffix_key(match), _local_key(match["local"]))


def _suffix_key(match):
    """Pre-, post- and dev-release parts: 1.0.dev1 < 1.0a1 < 1.0a1.post1 < 1.0 < 1.0.post1."""
    post = match["post_n1"] or match["post_n2"] or ("0" if match["post_l"] else None)
    dev = match["dev_n"] or ("0" if match["dev_l"] else None)
    if match["pre_l"]:
        pre = (_LOW, _PRE_RANK[match["pre_l"].lower()], int(match["pre_n"] or 0))
    elif post is None and dev is not None:
        pre = (_LOWEST,)  # a dev release of the final version comes before its pre-releases
    else:
        pre = (_HIGH,)
    post_key = (_LOWEST,) if post is None else (_LOW, int(post))
    dev_key = (_HIGH,) if dev is None else (_LOW, int(dev))
    return pre, post_key, dev_key


def _local_key(local):
    """Local versions sort after the public one; their numeric parts after, and above, text parts."""
    if local is None:
        return (_LOWEST,)
    parts = re.split(r"[-_.]", local.lower())
    return (_LOW, tuple((_HIGH, int(part), "") if part.isdigit() else (_LOW, 0, part) for part in parts))


def pep440_sorted(versions):
    """The versions in PEP 440 order, oldest first."""
    return sorted(versions, key=pep440_key)
