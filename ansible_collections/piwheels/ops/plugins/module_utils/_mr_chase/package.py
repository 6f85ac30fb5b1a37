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

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import BasePlan, count
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import unknown_package_message

__all__ = ("PackagePlan",)

#: what the package held, as the result and the diff show it; the keys of the package STATUS they come from
CONTENTS = ("versions", "yanked", "skip", "builds", "file_count", "archived_count", "downloads", "aliases")
_EMPTY = {"versions": [], "yanked": [], "skip": "", "builds": 0, "file_count": 0, "archived_count": 0,
          "downloads": 0, "aliases": []}


class PackagePlan(BasePlan):
    """What deleting a package would take; ``package_status`` is None for a package that does not exist, and
    then ``match`` is Mr Chase's MATCH of the name (its PEP 503 form, the record of its deletion, close names)."""

    stale_pages = "so its search index still lists the package until piw-master rebuilds it"

    def __init__(self, name: str, package_status: dict | None, match: dict | None = None):
        self.exists = package_status is not None
        self.name = name
        self.match = match
        status = package_status or {}
        self.package = status.get("package") or (match or {}).get("package") or name
        self.site_refresh = bool(status.get("site_refresh"))
        self.contents = {key: status.get(key, _EMPTY[key]) for key in CONTENTS}  # versions: STATUS's order
        self.contents["aliases"] = sorted(self.contents["aliases"])
        #: what the archive hosts must delete once the package is gone: {location, package, filename}
        self.archived_files = [{"location": location, "package": self.package, "filename": filename}
                               for filename, location in sorted(status.get("archive_locations", {}).items())]

    @property
    def deleted_at(self) -> str | None:
        """When Mr Chase's audit log says the absent package was deleted; None if it has no record."""
        removed = (self.match or {}).get("removed")
        return removed["time"] if removed else None

    @property
    def changed(self) -> bool:
        return self.exists

    def carry_out(self, client, done: list[str]) -> None:
        if self.exists:
            client.delete(self.package)
            done.append(f"deletion of {self.package}")

    def result(self) -> dict:
        result = dict(changed=self.changed, package=self.package, existed=self.exists,
                      site_refreshed=self.changed and self.site_refresh, archived_files=self.archived_files,
                      **self.contents)
        if not self.exists:
            result.update(deleted_at=self.deleted_at, unknown=self.deleted_at is None,
                          close=(self.match or {}).get("close", []), unknown_msg=self._unknown_message())
        return result

    def warnings(self, check_mode: bool) -> list[str]:
        """Also one for a package nothing records: absent is what the task wants, but it is probably a typo."""
        unknown = self._unknown_message()
        return super().warnings(check_mode) + ([unknown] if unknown else [])

    def _unknown_message(self) -> str:
        if self.exists or self.deleted_at:
            return ""
        return unknown_package_message(self.name, self.match or {"package": self.package, "removed": None, "close": []})

    def summary(self, check_mode: bool) -> str:
        if not self.exists and self.deleted_at:
            return f"nothing to delete: {self.package} already deleted at {self.deleted_at}"
        if not self.exists:
            return f"nothing to delete: piwheels has no package {self.package} and no record of deleting it"
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
