#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_remove
short_description: Remove package versions from a piwheels master through Mr Chase
version_added: 0.1.0
description:
  - Takes one or more versions of a package down from a piwheels master, as maintainers ask
    ("please remove 5.0.0, it is broken"; "remove everything and never build it again"), by asking the
    master's removal service, Mr Chase, over its ZeroMQ import queue.
  - A removal deletes every build of the version, its wheel files on disk, their file and download records,
    and rewrites the package's index page. Mr Chase does each version in one transaction, all or nothing.
    Files kept on an archive server rather than on this host lose their rows and are reported apart, as
    RV(versions.archived).
  - When Mr Chase is configured with piw-master's queue, piw-master is told after each change and rewrites the
    project page and the JSON API too (RV(site_refreshed)); otherwise the task warns that they were not refreshed.
  - Versions are listed in PEP 440 order (V(1.9) before V(1.10)) in RV(versions), RV(msg) and the diff.
  - The module asks Mr Chase for the STATUS of the package and of every requested version before it sends
    anything that changes state. One unknown package or version fails the task and nothing is removed.
  - The task reports C(changed) only when builds, files or download records existed, or when a skip reason
    changes; a second run with the same arguments reports C(ok) and sends no removal.
  - With O(version=all) and O(skip) or O(skip_reason), the package itself is also marked skipped, so the
    builders never build its new releases.
author:
  - piwheels.ops maintainers (@piwheels)
options:
  package:
    description:
      - The package name. Mr Chase canonicalises it as PEP 503 says (V(Foo_Bar) and V(foo-bar) are the same
        package); RV(package) returns the canonical name.
    type: str
    required: true
  version:
    description:
      - The version to remove, or a list of versions, or V(all) for every version the package has.
      - Quote versions in YAML, V("1.10") rather than V(1.10). YAML reads an unquoted version as a number,
        and the module refuses numbers rather than guess what they were.
      - V(all) cannot be combined with other versions.
      - Give several versions of a package as one list rather than a C(loop). One task asks Mr Chase about
        all of them in one pipelined exchange; a loop pays for a whole module run on the host per version
        (about 25 times slower for 50 versions in this collection's benchmark).
    type: raw
    required: true
  skip:
    description:
      - Also mark each removed version skipped, so piwheels does not build it again.
      - A version that is already skipped keeps its reason; one that is not gets the reason
        V(removed by request).
      - With O(version=all), the package is marked skipped too.
      - When V(false) and O(skip_reason) is not given, skip reasons are left as they are.
    type: bool
    default: false
  skip_reason:
    description:
      - Mark the versions skipped with this reason (and, with O(version=all), the package too), replacing
        any reason they had. Implies O(skip=true).
      - At most 100 characters, no control characters.
    type: str
extends_documentation_fragment:
  - piwheels.ops.mr_chase
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - Asks Mr Chase for STATUS only and reports what a real run would remove; sends no REMOVE or SKIP.
  diff_mode:
    support: full
    details:
      - Lists the files and skip reasons of the requested versions before and after.
  idempotent:
    support: full
seealso:
  - module: piwheels.ops.piw_package_info
"""

EXAMPLES = r"""
- name: Remove a broken release
  piwheels.ops.piw_remove:
    package: foo
    version: "5.0.0"
  become: true
  become_user: piwheels

- name: Remove two releases and stop them being built again
  piwheels.ops.piw_remove:
    package: foo
    version:
      - "5.0.0"
      - "5.0.1"
    skip: true
  become: true
  become_user: piwheels

- name: Remove everything and never build the package again (maintainer's request)
  piwheels.ops.piw_remove:
    package: foo
    version: all
    skip_reason: "maintainer asked, see issue 42"
  become: true
  become_user: piwheels

- name: Show what a removal would take down, without taking it down
  piwheels.ops.piw_remove:
    package: foo
    version: all
  check_mode: true
  diff: true
  register: would_go

- name: Report the files that would go
  ansible.builtin.debug:
    msg: "{{ would_go.versions | dict2items | map(attribute='value.files') | flatten }}"

- name: Talk to a Mr Chase on a non-default queue, waiting at most 10 seconds per answer
  piwheels.ops.piw_remove:
    package: foo
    version: "5.0.0"
    import_queue: ipc:///run/mr-chase-staging/queue
    timeout: 10
"""

RETURN = r"""
package:
  description: The canonical (PEP 503) name of the package.
  returned: success
  type: str
  sample: beta-tools
versions:
  description:
    - What was removed (or, in check mode, would be removed) from each requested version, keyed by version.
      With O(version=all), every version the package had.
  returned: success
  type: dict
  contains:
    builds:
      description: How many builds the version had.
      type: int
      returned: always
      sample: 1
    files:
      description: The wheel files of the version on this host (their rows and the wheels on disk go), sorted.
      type: list
      elements: str
      returned: always
      sample: [beta_tools-1.0-cp37-cp37m-linux_armv7l.whl, beta_tools-1.0-py3-none-any.whl]
    archived:
      description:
        - The files of the version that are not on this host (their C(files.location) is an archive server,
          not C(/simple)), sorted. Their rows go; nothing is deleted from the archive.
        - Empty with a Mr Chase older than 0.2, which does not report them.
      type: list
      elements: str
      returned: always
      sample: []
    downloads:
      description: How many download records the files had.
      type: int
      returned: always
      sample: 6
    skip_before:
      description: The version's skip reason before the task; empty when it was not skipped.
      type: str
      returned: always
      sample: ""
    skip_after:
      description: The version's skip reason after the task; empty when it is not skipped.
      type: str
      returned: always
      sample: removed by request
    changed:
      description: Whether the task removed something from this version or changed its skip reason.
      type: bool
      returned: always
      sample: true
  sample:
    "1.0":
      builds: 1
      files: [beta_tools-1.0-cp37-cp37m-linux_armv7l.whl, beta_tools-1.0-py3-none-any.whl]
      archived: []
      downloads: 6
      skip_before: ""
      skip_after: removed by request
      changed: true
package_skip:
  description:
    - The package's own skip reason before and after the task; empty when not skipped.
    - Only O(version=all) with O(skip) or O(skip_reason) changes it.
  returned: success
  type: dict
  contains:
    before:
      description: The package's skip reason before the task.
      type: str
      returned: always
      sample: ""
    after:
      description: The package's skip reason after the task.
      type: str
      returned: always
      sample: "maintainer asked, see issue 42"
  sample: {before: "", after: "maintainer asked, see issue 42"}
site_refreshed:
  description:
    - Whether piw-master was (in check mode, would be) told to rewrite the package's project page, its JSON API
      entry and the simple index from the database. True when the task changed something and Mr Chase has a
      piw-master to notify (C(mr_chase_master_queue) of the P(piwheels.ops.mr_chase#role) role).
    - When the task changed something and this is false, the task also warns that the project pages and JSON
      API were not refreshed and still list what was removed.
  returned: success
  type: bool
  sample: true
msg:
  description: A one-line summary of what was (or would be) done.
  returned: always
  type: str
  sample: removed 1 build, 2 files and 6 downloads of beta-tools 1.0
import_queue:
  description: The queue address, when the task failed talking to Mr Chase.
  returned: failure
  type: str
  sample: ipc:///run/mr-chase/queue
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import (
    DEFAULT_SKIP_REASON,
    FORBIDDEN_CHARACTERS,
    LIMITS,
)
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import pep440_sorted
from ansible_collections.piwheels.ops.plugins.module_utils.mr_chase_common import (
    fail_from_error,
    mr_chase_argument_spec,
    mr_chase_client,
)

ALL = "all"


def argument_spec():
    spec = dict(
        package=dict(type="str", required=True),
        version=dict(type="raw", required=True),
        skip=dict(type="bool", default=False),
        skip_reason=dict(type="str"),
    )
    spec.update(mr_chase_argument_spec())
    return spec


def requested_versions(module):
    """Return the versions asked for as a list without repeats, or None for ``all``.

    ``version`` is raw so that one string and a list both work; that leaves
    the module to refuse numbers, which YAML makes of unquoted versions
    (``1.10`` would silently become ``1.1``).
    """
    value = module.params["version"]
    values = value if isinstance(value, list) else [value]
    if not values:
        module.fail_json(msg="version must name at least one version")
    for item in values:
        if not isinstance(item, str) or not item:
            module.fail_json(
                msg=f"version must be a non-empty string or a list of them, got {item!r}; "
                "quote versions in YAML so that they are not read as numbers"
            )
    for name in [module.params["package"], *values]:
        if FORBIDDEN_CHARACTERS.search(name):
            module.fail_json(msg=f"{name!r} contains a control character or line separator; Mr Chase refuses it")
    versions = list(dict.fromkeys(values))
    if ALL in versions:
        if len(versions) > 1:
            module.fail_json(msg="version: 'all' cannot be combined with other versions")
        return None
    return versions


def requested_skip(module):
    """Return the skip argument of REMOVE: False (leave it), True (default reason) or a reason.

    The reason is checked here because Mr Chase would refuse it only at the
    first REMOVE, and the module promises to refuse before removing anything.
    """
    reason = module.params["skip_reason"]
    if reason is None:
        return module.params["skip"]
    if not reason:
        module.fail_json(msg="skip_reason must not be empty; use skip: true for the default reason")
    if len(reason) > LIMITS["skip"]:
        module.fail_json(msg=f"skip_reason is longer than {LIMITS['skip']} characters")
    if FORBIDDEN_CHARACTERS.search(reason):
        module.fail_json(msg="skip_reason must not contain control characters or line separators")
    return reason


def skip_after(before, skip):
    """The skip reason Mr Chase leaves after a REMOVE (or SKIP) with ``skip``, given the reason ``before``."""
    if skip is False:
        return before
    if skip is True:
        return before or DEFAULT_SKIP_REASON
    return skip


class Plan:
    """What the task would do, worked out from STATUS alone so that check mode and a real run agree."""

    def __init__(self, package_status, version_statuses, skip, whole_package):
        """``version_statuses`` is a list of (version, STATUS); ``whole_package`` means ``version: all``."""
        self.package = package_status["package"]
        self.skip = skip
        self.site_refresh = package_status["site_refresh"]
        self.package_skip = {
            "before": package_status["skip"],
            "after": skip_after(package_status["skip"], skip) if whole_package else package_status["skip"],
        }
        #: in the order asked, which is the order of the removals
        self.versions = {
            version: _version_plan(status, skip_after(status["skip"], skip)) for version, status in version_statuses
        }
        #: the versions as an operator reads them, in PEP 440 order
        self.ordered = pep440_sorted(self.versions)

    @property
    def package_skip_changes(self):
        return self.package_skip["after"] != self.package_skip["before"]

    @property
    def changed(self):
        return self.package_skip_changes or any(v["changed"] for v in self.versions.values())

    def result(self):
        return dict(
            changed=self.changed,
            package=self.package,
            versions=self.versions,
            package_skip=self.package_skip,
            site_refreshed=self.changed and self.site_refresh,
        )

    def summary(self, check_mode):
        """One line for ``msg``: the counts an operator would put in the reply to the maintainer."""
        remove, set_ = ("would remove", "would set") if check_mode else ("removed", "set")
        versions = [(version, self.versions[version]) for version in self.ordered]
        emptied = [version for version, v in versions if v["changed"] and _has_content(v)]
        skipped = [version for version, v in versions if v["skip_after"] != v["skip_before"]]
        parts = []
        if emptied:
            parts.append(f"{remove} {self._counts(emptied)} of {self.package} {', '.join(emptied)}")
        if skipped:
            parts.append(f"{set_} the skip reason of {self.package} {', '.join(skipped)}")
        if self.package_skip_changes:
            parts.append(f"{set_} the skip reason of package {self.package}")
        if not parts:
            return f"nothing to remove from {self.package} {', '.join(self.ordered) or '(no versions)'}"
        return "; ".join(parts)

    def _counts(self, versions):
        """"1 build, 3 files (1 archived, not on this host) and 6 downloads" for these versions."""
        chosen = [self.versions[version] for version in versions]
        archived = sum(len(v["archived"]) for v in chosen)
        files = _count(sum(len(v["files"]) for v in chosen) + archived, "file")
        if archived:
            files += f" ({archived} archived, not on this host)"
        builds = _count(sum(v["builds"] for v in chosen), "build")
        return f"{builds}, {files} and {_count(sum(v['downloads'] for v in chosen), 'download')}"

    def warnings(self, check_mode):
        """Why the rest of the site is stale after the task, when it will be."""
        if not self.changed or self.site_refresh:
            return []
        were = "would not be" if check_mode else "were not"
        return [
            f"the project pages and JSON API of {self.package} {were} refreshed: Mr Chase has no piw-master "
            "to notify (mr_chase_master_queue is not set), so they still list what was removed"
        ]

    def diff(self):
        """Before and after, one line per file ("package version filename") and per skip reason."""
        before, after = [], []
        if self.package_skip["before"]:
            before.append(f"{self.package} skipped: {self.package_skip['before']}")
        if self.package_skip["after"]:
            after.append(f"{self.package} skipped: {self.package_skip['after']}")
        for version in self.ordered:
            v = self.versions[version]
            if v["skip_before"]:
                before.append(f"{self.package} {version} skipped: {v['skip_before']}")
            if v["skip_after"]:
                after.append(f"{self.package} {version} skipped: {v['skip_after']}")
            files = [f"{self.package} {version} {name}" for name in v["files"]]
            files += [f"{self.package} {version} {name} (archived, not on this host)" for name in v["archived"]]
            before.extend(files)
            if not v["changed"]:
                after.extend(files)
        header = f"{self.package} (Mr Chase)"
        return dict(
            before="".join(line + "\n" for line in before),
            after="".join(line + "\n" for line in after),
            before_header=header,
            after_header=header,
        )


def _version_plan(status, skip_after_removal):
    """What goes of one version: its local wheels and, apart, the files that are not on this host."""
    archived = sorted(status["archived"])
    plan = {
        "builds": status["builds"],
        "files": sorted(set(status["files"]) - set(archived)),
        "archived": archived,
        "downloads": status["downloads"],
        "skip_before": status["skip"],
        "skip_after": skip_after_removal,
    }
    plan["changed"] = _has_content(plan) or skip_after_removal != status["skip"]
    return plan


def _has_content(version):
    return bool(version["builds"] or version["files"] or version["archived"] or version["downloads"])


def _count(number, noun):
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def survey(client, package, versions, skip):
    """Ask STATUS of the package and of every requested version; any ERROR stops here, before a change.

    The versions' STATUS requests are pipelined (read-only, so order of execution cannot matter):
    50 versions cost about as much as 25 sequential round trips would.
    """
    package_status = client.status(package)
    canonical = package_status["package"]
    whole_package = versions is None
    if whole_package:
        versions = package_status["versions"]
    statuses = list(client.statuses(canonical, versions).items())
    unsettled = [version for version, status in statuses if status.get("settling")]
    if unsettled or (whole_package and package_status.get("settling")):
        raise MrChaseError(
            client.address,
            f"a removal of {canonical} {', '.join(unsettled) or '(a version)'} is still being settled: Mr Chase lost "
            "the database while it committed and settles it as soon as the database answers; run the task again "
            "then (nothing was removed by this task)",
        )
    return Plan(package_status, statuses, skip, whole_package)


def carry_out(client, plan, done):
    """Send the SKIP and REMOVEs the plan needs; ``done`` records each, for the message if one fails.

    The REMOVEs are pipelined two deep (``remove_all``): Mr Chase gets the
    next while it finishes the last, and stops getting them at a failure.

    The package is marked skipped first so that the builders stop picking up
    its new releases while the versions go.
    """
    if plan.package_skip_changes:
        client.skip(plan.package, plan.package_skip["after"])
        done.append(f"package skip of {plan.package}")
    changed = [version for version, v in plan.versions.items() if v["changed"]]
    for version in client.remove_all(plan.package, changed, plan.skip):
        done.append(f"{plan.package} {version}")


def failure_message(error, package, done):
    """The error, and what the task did all the same: an operator must know what is already gone."""
    notes = []
    if done:
        notes.append(f"already done before the failure: {', '.join(done)}")
    if error.done_after:
        notes.append(f"also done, already sent when it failed: {_versions_of(package, error.done_after)}")
    if error.unanswered:
        notes.append(f"sent but not answered, so perhaps done: {_versions_of(package, error.unanswered)}")
    return f"{error} ({'; '.join(notes)})" if notes else str(error)


def _versions_of(package, versions):
    return ", ".join(f"{package} {version}" for version in versions)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    versions = requested_versions(module)
    skip = requested_skip(module)
    done = []
    plan = None
    with mr_chase_client(module) as client:
        try:
            plan = survey(client, module.params["package"], versions, skip)
            if not module.check_mode:
                carry_out(client, plan, done)
        except MrChaseError as error:
            changed = bool(done or error.done_after)
            package = plan.package if plan is not None else module.params["package"]
            error = MrChaseError(error.address, failure_message(error, package, done))
            fail_from_error(module, error, changed=changed)
    result = plan.result()
    result["msg"] = plan.summary(module.check_mode)
    for warning in plan.warnings(module.check_mode):
        module.warn(warning)
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
