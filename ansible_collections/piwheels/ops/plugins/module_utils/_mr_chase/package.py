# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plan of a whole-package deletion (DELETE), from the package's STATUS alone.

A package either exists or it does not: Mr Chase answers ``unknown package``
for one that does not, which to a task that wants it absent means "already
done", not failure.  The package STATUS carries the totals over every
version (builds, files, archived files, downloads) and the aliases, so the
plan can say what goes without asking about each version.
"""

from __future__ import annotations

import re

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import BasePlan, count
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import pep440_sorted

__all__ = ("PackagePlan", "canonical_name", "is_unknown_package")

#: what the package held, as the result and the diff show it; the keys of the package STATUS they come from
CONTENTS = ("versions", "yanked", "skip", "builds", "file_count", "archived_count", "downloads", "aliases")
_EMPTY = {"versions": [], "yanked": [], "skip": "", "builds": 0, "file_count": 0, "archived_count": 0,
          "downloads": 0, "aliases": []}


def canonical_name(name: str) -> str:
    """PEP 503's normalised name, as Mr Chase makes it; for a package Mr Chase does not know."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_unknown_package(message: str) -> bool:
    """Whether an ERROR from Mr Chase says the package does not exist (and nothing else went wrong)."""
    return message.startswith("unknown package ") and not message.startswith("unknown package version ")


class PackagePlan(BasePlan):
    """What deleting a package would take; ``package_status`` is None for a package that does not exist."""

    stale_pages = "so its search index still lists the package until piw-master rebuilds it"

    def __init__(self, name: str, package_status: dict | None):
        self.exists = package_status is not None
        status = package_status or {}
        self.package = status.get("package") or canonical_name(name)
        self.site_refresh = bool(status.get("site_refresh"))
        self.contents = {key: status.get(key, _EMPTY[key]) for key in CONTENTS}
        self.contents["versions"] = pep440_sorted(self.contents["versions"])
        self.contents["yanked"] = pep440_sorted(self.contents["yanked"])
        self.contents["aliases"] = sorted(self.contents["aliases"])

    @property
    def changed(self) -> bool:
        return self.exists

    def carry_out(self, client, done: list[str]) -> None:
        if self.exists:
            client.delete(self.package)
            done.append(f"deletion of {self.package}")

    def result(self) -> dict:
        return dict(changed=self.changed, package=self.package, existed=self.exists,
                    site_refreshed=self.changed and self.site_refresh, **self.contents)

    def summary(self, check_mode: bool) -> str:
        if not self.exists:
            return f"nothing to delete: piwheels has no package {self.package}"
        c = self.contents
        files = count(c["file_count"], "file")
        if c["archived_count"]:
            files += f" ({c['archived_count']} archived, not on this host)"
        what = (f"{count(len(c['versions']), 'version')}, {count(c['builds'], 'build')}, {files} and "
                f"{count(c['downloads'], 'download')}")
        if c["aliases"]:
            what += f", and its {count(len(c['aliases']), 'alias')} {', '.join(c['aliases'])}"
        return f"{'would delete' if check_mode else 'deleted'} package {self.package}: {what}"

    def diff(self) -> dict:
        """Before: one line per fact of the package; after: nothing, the package is absent."""
        before = []
        if self.exists:
            c = self.contents
            before.append(f"package: {self.package}")
            before.append(f"versions: {', '.join(c['versions'])}")
            if c["yanked"]:
                before.append(f"yanked: {', '.join(c['yanked'])}")
            if c["skip"]:
                before.append(f"skipped: {c['skip']}")
            before.append(f"builds: {c['builds']}")
            before.append(f"files: {c['file_count']} ({c['archived_count']} archived, not on this host)")
            before.append(f"downloads: {c['downloads']}")
            if c["aliases"]:
                before.append(f"aliases: {', '.join(c['aliases'])}")
        return self.diff_of(before, [])
