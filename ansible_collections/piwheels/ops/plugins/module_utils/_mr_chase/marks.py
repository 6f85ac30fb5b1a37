# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plans of the marks on a release that leave its wheels alone: yanked (YANK) and skipped (UNSKIP).

A yanked release stays installable by exact pin but pip passes it over
otherwise (PEP 592); a skipped one is never built.  Neither touches a
file, so ``changed`` is simply "the mark differs from what was asked".
"""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import BasePlan

__all__ = ("UnskipPlan", "YankPlan")


class _MarkPlan(BasePlan):
    """What the two mark plans share: the package's skip left as it is unless a subclass says otherwise."""

    def __init__(self, package_status):
        self.package = package_status["package"]
        self.site_refresh = package_status["site_refresh"]
        self.package_skip = {"before": package_status["skip"], "after": package_status["skip"]}
        self.versions = {}
        self.stored = package_status["versions"]

    @property
    def ordered(self) -> list[str]:
        """The versions in the order of STATUS (piw-master's)."""
        return [version for version in self.stored if version in self.versions]

    @property
    def changing(self) -> list[str]:
        """The versions whose mark changes, in the order asked (the order of the requests)."""
        return [version for version, v in self.versions.items() if v["changed"]]

    @property
    def package_skip_changes(self) -> bool:
        return self.package_skip["after"] != self.package_skip["before"]

    @property
    def changed(self) -> bool:
        return self.package_skip_changes or bool(self.changing)

    def result(self) -> dict:
        return dict(
            changed=self.changed,
            package=self.package,
            versions=self.versions,
            package_skip=self.package_skip,
            site_refreshed=self.changed and self.site_refresh,
        )


class YankPlan(_MarkPlan):
    """Set (``yanked`` true) or clear the PEP 592 yanked flag of the requested versions."""

    def __init__(self, package_status, version_statuses, yanked: bool):
        super().__init__(package_status)
        self.yanked = yanked
        for version, status in version_statuses:
            self.versions[version] = {
                "yanked_before": status["yanked"],
                "yanked_after": yanked,
                "changed": status["yanked"] != yanked,
            }

    @property
    def verb(self) -> str:
        return "yank" if self.yanked else "unyank"

    def carry_out(self, client, done: list[str]) -> None:
        requests = [("YANK", self.package, version, self.yanked) for version in self.changing]
        for version in client.change_all(self.changing, requests):
            done.append(f"{self.verb} of {self.package} {version}")

    def summary(self, check_mode: bool) -> str:
        changing = [version for version in self.ordered if self.versions[version]["changed"]]
        if not changing:
            already = "already yanked" if self.yanked else "not yanked"
            return f"nothing to {self.verb}: {self.package} {', '.join(self.ordered) or '(no versions)'} {already}"
        done = f"would {self.verb}" if check_mode else f"{self.verb}ed"
        return f"{done} {self.package} {', '.join(changing)}"

    def diff(self) -> dict:
        before = [f"{self.package} {v} yanked: {str(self.versions[v]['yanked_before']).lower()}" for v in self.ordered]
        after = [f"{self.package} {v} yanked: {str(self.versions[v]['yanked_after']).lower()}" for v in self.ordered]
        return self.diff_of(before, after)


class UnskipPlan(_MarkPlan):
    """Clear the skip reason of the requested versions and, with ``version: all``, of the package too."""

    def __init__(self, package_status, version_statuses, whole_package: bool):
        super().__init__(package_status)
        if whole_package:
            self.package_skip["after"] = ""
        for version, status in version_statuses:
            self.versions[version] = {"skip_before": status["skip"], "skip_after": "", "changed": bool(status["skip"])}

    def carry_out(self, client, done: list[str]) -> None:
        """Versions first, the package last: a run that fails half way leaves the package still skipped."""
        requests = [("UNSKIP", self.package, version) for version in self.changing]
        for version in client.change_all(self.changing, requests):
            done.append(f"un-skip of {self.package} {version}")
        if self.package_skip_changes:
            client.unskip(self.package)
            done.append(f"un-skip of package {self.package}")

    def summary(self, check_mode: bool) -> str:
        clear = "would clear" if check_mode else "cleared"
        parts = []
        changing = [version for version in self.ordered if self.versions[version]["changed"]]
        if changing:
            parts.append(f"{clear} the skip reason of {self.package} {', '.join(changing)}")
        if self.package_skip_changes:
            parts.append(f"{clear} the skip reason of package {self.package}")
        if not parts:
            return f"nothing to un-skip: {self.package} {', '.join(self.ordered) or '(no versions)'} not skipped"
        return "; ".join(parts)

    def diff(self) -> dict:
        before, after = [], []
        for side, key in ((before, "before"), (after, "after")):
            if self.package_skip[key]:
                side.append(f"{self.package} skipped: {self.package_skip[key]}")
            for version in self.ordered:
                reason = self.versions[version][f"skip_{key}"]
                if reason:
                    side.append(f"{self.package} {version} skipped: {reason}")
        return self.diff_of(before, after)
