"""PEP 440 ordering of version strings, as piw-master orders releases on its pages.

piw-master sorts a package's releases newest first with ``packaging``'s
version parser, and a page Mr Chase writes must list them in the same order.
Mr Chase needs nothing beyond pyzmq, psycopg, PyYAML and cbor2 at run time, so
the ordering is implemented here.  A string that is not a PEP 440 version
sorts before every valid one (as packaging's legacy versions do); among
themselves such strings sort by their numeric and alphabetic runs.
"""

from __future__ import annotations

import re
from functools import lru_cache

_VERSION = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
#: pre-release letters in PEP 440 order, spelled every way PEP 440 allows
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_RUNS = re.compile(r"\d+|[a-z]+")


@lru_cache(maxsize=4096)
def version_key(version: str) -> tuple:
    """A key that sorts version strings in PEP 440 order (oldest first).

    Every part is a tuple whose first element says where "absent" sorts: a
    dev release comes before its pre-releases, which come before the release,
    which comes before its post-releases; a local label sorts after no label.
    """
    match = _VERSION.match(version)
    if match is None:
        return (0, tuple((1, int(run), "") if run.isdigit() else (0, 0, run)
                         for run in _RUNS.findall(version.lower())))
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    post = match["post_n1"] or match["post_n2"] or ("0" if match["post_l"] else None)
    dev = match["dev_n"] or ("0" if match["dev_l"] else None)
    if match["pre_l"]:
        pre: tuple = (1, _PRE_RANK[match["pre_l"].lower()], int(match["pre_n"] or 0))
    elif post is None and dev is not None:
        pre = (-1,)  # 1.0.dev1 comes before 1.0a1
    else:
        pre = (2,)
    local = match["local"]
    return (
        1,
        int(match["epoch"] or 0),
        tuple(release),
        pre,
        (-1,) if post is None else (0, int(post)),
        (1,) if dev is None else (0, int(dev)),
        (-1,) if local is None else (0, tuple((1, int(part), "") if part.isdigit() else (0, 0, part)
                                              for part in re.split(r"[-_.]", local.lower()))),
    )


def newest_first(versions) -> list[str]:
    """The versions, newest first by PEP 440."""
    return sorted(versions, key=version_key, reverse=True)


__all__ = ["newest_first", "version_key"]
