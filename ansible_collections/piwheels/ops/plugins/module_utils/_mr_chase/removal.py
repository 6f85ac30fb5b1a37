# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plan of a removal (REMOVE) or of forgetting versions (FORGET), from STATUS alone.

Both take the builds, files, download records and wheels of each version;
FORGET takes the version row too, so a forgotten version is unknown
afterwards.  That is why their ``changed`` differs: a REMOVE changes
something only while a version still has content (or its skip reason
changes), a FORGET whenever the version still exists.
"""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import DEFAULT_SKIP_REASON
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import BasePlan, count
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import Matching, unknown_version_message

__all__ = ("RemovalPlan", "skip_after")


def skip_after(before: str, skip: bool | str) -> str:
    """The skip reason Mr Chase leaves after a REMOVE (or SKIP) with ``skip``, given the reason ``before``."""
    if skip is False:
        return before
    if skip is True:
        return before or DEFAULT_SKIP_REASON
    return skip


class RemovalPlan(BasePlan):
    """What a REMOVE (``forget`` false) or FORGET (``forget`` true) of the requested versions would do."""

    stale_pages = "so they still list what was removed"

    def __init__(self, package_status, version_statuses, skip, whole_package, forget=False, matching=None):
        """``version_statuses`` is a list of (version, STATUS); ``whole_package`` means ``version: all``.

        ``matching`` (FORGET only) holds the requested versions the package does not have: already
        forgotten when Mr Chase's audit log says so, else unknown.
        ``skip`` is REMOVE's argument; with FORGET it only marks the package (``version: all``).
        """
        self.package = package_status["package"]
        self.skip = skip
        self.forget = forget
        self.site_refresh = package_status["site_refresh"]
        self.package_skip = {
            "before": package_status["skip"],
            "after": skip_after(package_status["skip"], skip) if whole_package else package_status["skip"],
        }
        #: version -> {archived file: its location} (empty from a Mr Chase before 0.4: locations unknown)
        self.locations = {version: status["archive_locations"] for version, status in version_statuses}
        #: in the order asked, which is the order of the requests
        self.versions = {
            version: _version_plan(status, "" if forget else skip_after(status["skip"], skip), forget)
            for version, status in version_statuses
        }
        #: the versions as an operator reads them, in the order of STATUS (piw-master's)
        self.ordered = [version for version in package_status["versions"] if version in self.versions]
        self.stored = package_status["versions"]
        self.absent = (matching or Matching()).absent
        self.already_forgotten = (matching or Matching()).removed
        self.unknown = (matching or Matching()).unknown

    @property
    def package_skip_changes(self) -> bool:
        return self.package_skip["after"] != self.package_skip["before"]

    @property
    def changed(self) -> bool:
        return self.package_skip_changes or any(v["changed"] for v in self.versions.values())

    def result(self) -> dict:
        result = dict(
            changed=self.changed,
            package=self.package,
            versions=self.versions,
            package_skip=self.package_skip,
            site_refreshed=self.changed and self.site_refresh,
            archived_files=self.archived_files(),
        )
        if self.forget:
            at = {asked: record["time"] for asked, record in self.already_forgotten.items()}
            result.update(forgotten=self.ordered, already_forgotten=list(self.already_forgotten),
                          already_forgotten_at=at, unknown=list(self.unknown),
                          unknown_msg="; ".join(self._unknown_messages()))
        return result

    def archived_files(self) -> list[dict]:
        """Each archived file of a version that changed: what its archive hosts must delete (Mr Chase keeps it
        pending for them until acknowledged), in the order of the versions."""
        return [{"location": self.locations[version].get(name, ""), "package": self.package, "filename": name}
                for version in self.ordered if self.versions[version]["changed"]
                for name in self.versions[version]["archived"]]

    def warnings(self, check_mode: bool) -> list[str]:
        """Also one per unknown version: not an error to a task that wants it absent, but probably a typo."""
        return super().warnings(check_mode) + self._unknown_messages()

    def _unknown_messages(self) -> list[str]:
        return [unknown_version_message(self.package, asked, self.absent[asked], self.stored) for asked in self.unknown]

    def carry_out(self, client, done: list[str]) -> None:
        """Send the SKIP and the REMOVEs (or FORGETs) the plan needs; ``done`` records each.

        The package is marked skipped first so that the builders stop picking
        up its new releases while the versions go.  The version requests are
        pipelined two deep (``change_all``): Mr Chase gets the next while it
        finishes the last, and stops getting them at a failure.
        """
        if self.package_skip_changes:
            client.skip(self.package, self.package_skip["after"])
            done.append(f"package skip of {self.package}")
        changed = [version for version, v in self.versions.items() if v["changed"]]
        if self.forget:
            requests = [("FORGET", self.package, version) for version in changed]
        else:
            requests = [("REMOVE", self.package, version, self.skip) for version in changed]
        for version in client.change_all(changed, requests):
            done.append(f"{self.package} {version}")

    def summary(self, check_mode: bool) -> str:
        """One line for ``msg``: the counts an operator would put in the reply to the maintainer."""
        return self._forget_summary(check_mode) if self.forget else self._remove_summary(check_mode)

    def _remove_summary(self, check_mode):
        remove, set_ = ("would remove", "would set") if check_mode else ("removed", "set")
        versions = [(version, self.versions[version]) for version in self.ordered]
        emptied = [version for version, v in versions if v["changed"] and _has_content(v)]
        skipped = [version for version, v in versions if v["skip_after"] != v["skip_before"]]
        parts = []
        if emptied:
            parts.append(f"{remove} {self._counts(emptied)} of {self.package} {', '.join(emptied)}")
        if skipped:
            parts.append(f"{set_} the skip reason of {self.package} {', '.join(skipped)}")
        parts.extend(self._package_skip_part(set_))
        if not parts:
            return f"nothing to remove from {self.package} {', '.join(self.ordered) or '(no versions)'}"
        return "; ".join(parts)

    def _forget_summary(self, check_mode):
        forget, set_ = ("would forget", "would set") if check_mode else ("forgot", "set")
        parts = []
        if self.ordered:
            had = any(_has_content(self.versions[version]) for version in self.ordered)
            counts = f" ({self._counts(self.ordered)})" if had else ""
            parts.append(f"{forget} {self.package} {', '.join(self.ordered)}{counts}")
        parts.extend(self._package_skip_part(set_))
        absent = []
        if self.already_forgotten:
            absent.append(f"{self.package} {', '.join(self.already_forgotten)} already forgotten")
        if self.unknown:
            absent.append(f"{self.package} has no version {', '.join(self.unknown)} (no record of forgetting it)")
        if not parts:
            return f"nothing to forget: {'; '.join(absent) or f'{self.package} has no versions'}"
        return "; ".join(parts + absent)

    def _package_skip_part(self, set_):
        return [f"{set_} the skip reason of package {self.package}"] if self.package_skip_changes else []

    def _counts(self, versions):
        """"1 build, 3 files (1 archived, not on this host) and 6 downloads" for these versions."""
        chosen = [self.versions[version] for version in versions]
        archived = sum(len(v["archived"]) for v in chosen)
        files = count(sum(len(v["files"]) for v in chosen) + archived, "file")
        if archived:
            files += f" ({archived} archived, not on this host)"
        builds = count(sum(v["builds"] for v in chosen), "build")
        return f"{builds}, {files} and {count(sum(v['downloads'] for v in chosen), 'download')}"

    def diff(self) -> dict:
        """Before and after, one line per file ("package version filename"), per skip reason, per forgotten version."""
        before, after = [], []
        if self.package_skip["before"]:
            before.append(f"{self.package} skipped: {self.package_skip['before']}")
        if self.package_skip["after"]:
            after.append(f"{self.package} skipped: {self.package_skip['after']}")
        for version in self.ordered:
            v = self.versions[version]
            if self.forget:
                before.append(f"{self.package} {version} (the version itself)")
            if v["skip_before"]:
                before.append(f"{self.package} {version} skipped: {v['skip_before']}")
            if v["skip_after"]:
                after.append(f"{self.package} {version} skipped: {v['skip_after']}")
            files = [f"{self.package} {version} {name}" for name in v["files"]]
            files += [f"{self.package} {version} {name} (archived, not on this host)" for name in v["archived"]]
            before.extend(files)
            if not v["changed"]:
                after.extend(files)
        return self.diff_of(before, after)


def _version_plan(status, skip_after_change, forget):
    """What goes of one version: its local wheels and, apart, the files that are not on this host."""
    archived = sorted(status["archived"])
    plan = {
        "builds": status["builds"],
        "files": sorted(set(status["files"]) - set(archived)),
        "archived": archived,
        "downloads": status["downloads"],
        "skip_before": status["skip"],
        "skip_after": skip_after_change,
    }
    plan["changed"] = forget or _has_content(plan) or skip_after_change != status["skip"]
    return plan


def _has_content(version):
    return bool(version["builds"] or version["files"] or version["archived"] or version["downloads"])
