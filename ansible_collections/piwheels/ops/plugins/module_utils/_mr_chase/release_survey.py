# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What piw_remove asks Mr Chase before a change of releases, and the plan it makes of the answers.

Every question is read-only (STATUS, MATCH), and any ERROR stops the task
here, before anything changes; the plan then says what the change would do,
so check mode and a real run report the same thing.  Each state has a plan
of its own: ``removal`` (removed, forgotten), ``marks`` (yanked, unyanked,
unskipped).
"""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.marks import UnskipPlan, YankPlan
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import settling_error
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.removal import RemovalPlan
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import (
    match_versions,
    package_status_of,
    unknown_version_message,
)

__all__ = ("survey_releases",)


def survey_releases(client, package: str, versions: list[str] | None, skip: bool | str, state: str = "removed"):
    """Ask STATUS of the package and of every requested version (None: every version) and return the plan
    of bringing them to ``state``.

    A version spelled otherwise than the database (1.1.0, v1.1) is matched
    to the stored one by Mr Chase (MATCH, PEP 440 equality), which the
    requests then name.  One that matches nothing fails the task, except
    when forgetting: then it is already forgotten if Mr Chase's audit log
    records it, else unknown (``ok``, with a warning saying what was
    probably meant).  The versions' STATUS requests are pipelined
    (read-only): 50 versions cost about as much as 25 round trips.
    """
    package_status = package_status_of(client, package)
    canonical = package_status["package"]
    whole_package = versions is None
    matching = match_versions(client, package_status, package_status["versions"] if whole_package else versions)
    if matching.absent and state != "forgotten":
        raise MrChaseError(client.address, "; ".join(
            unknown_version_message(canonical, asked, match, package_status["versions"])
            for asked, match in matching.absent.items()))
    statuses = list(client.statuses(canonical, matching.stored).items())
    unsettled = [version for version, status in statuses if status.get("settling")]
    if unsettled or (whole_package and package_status.get("settling")):
        raise settling_error(client, canonical, unsettled)
    plan = _plan(state, package_status, statuses, skip, whole_package, matching)
    plan.unwritten = package_status.get("stale_pages", [])
    plan.matched = matching.matched
    return plan


def _plan(state: str, package_status: dict, statuses: list, skip: bool | str, whole_package: bool, matching):
    if state == "removed":
        return RemovalPlan(package_status, statuses, skip, whole_package)
    if state == "forgotten":
        return RemovalPlan(package_status, statuses, skip, whole_package, forget=True, matching=matching)
    if state == "unskipped":
        return UnskipPlan(package_status, statuses, whole_package)
    return YankPlan(package_status, statuses, yanked=state == "yanked")
