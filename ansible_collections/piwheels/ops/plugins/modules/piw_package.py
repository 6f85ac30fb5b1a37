#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_package
short_description: Delete a whole package from a piwheels master through Mr Chase
version_added: 0.3.0
description:
  - Deletes a package from a piwheels master, as maintainers (or PyPI) sometimes need ("the project was deleted
    from PyPI at the maintainer's request, so delete the package"), by asking the master's removal service, Mr Chase,
    over its ZeroMQ import queue.
  - With O(state=absent) Mr Chase deletes every version of the package, their builds, files, download records and
    wheels, the version rows, the package row and its aliases (other names of the package), the package's
    C(simple/) and C(project/) directories with their pages, and the alias links to them, and rewrites the root
    C(simple/index.html) without it. All or nothing - a crash at any point leaves the package whole or gone.
  - To take some releases down and keep the package, use M(piwheels.ops.piw_remove). A deleted package is
    forgotten entirely; if it is still on PyPI, piwheels may learn of it again from a new release. To keep a
    package that stays on PyPI from being built, remove its versions with O(piwheels.ops.piw_remove#module:skip)
    and O(piwheels.ops.piw_remove#module:version=all) instead.
  - The module asks Mr Chase for the STATUS of the package first. The task reports C(changed) only when the
    package exists; a package piwheels does not know is absent, and the task reports C(ok). It says already
    deleted (RV(deleted_at)) only when Mr Chase's audit log records the deletion; otherwise it warns that
    piwheels never had such a package as far as Mr Chase knows (RV(unknown)) and names close ones.
author:
  - piwheels.ops maintainers (@piwheels)
options:
  package:
    description:
      - The package name. Mr Chase canonicalises it as PEP 503 says (V(Foo_Bar) and V(foo-bar) are the same
        package); RV(package) returns the canonical name.
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the package.
      - Required, and the only choice for now, so that no task deletes a whole package without saying so.
        Packages come to piwheels from PyPI, never from this module.
    type: str
    choices: [absent]
    required: true
extends_documentation_fragment:
  - piwheels.ops.mr_chase
  - piwheels.ops.mr_chase.plan
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - Asks Mr Chase for STATUS only and reports what a real run would delete; sends no DELETE.
  diff_mode:
    support: full
    details:
      - Before - the package's versions, yanked versions, skip reason, builds, files, archived files, downloads
        and aliases. After - nothing (absent).
      - With O(plan=true) there is no diff (the task changes nothing); the task that acts shows it.
  idempotent:
    support: full
notes:
  - On a real piwheels master, restart piw-master at a quiet moment after deleting packages. Its page writer keeps
    the list of packages it loaded at start-up, so until then its sitemap lists a deleted package, and when a new
    package arrives it rewrites C(simple/index.html) with a dead link to it. Mr Chase never sends piw-master
    C(REMPKG), the only message that updates that list - piw-master would delete the package's directories
    itself, outside Mr Chase's journal.
seealso:
  - module: piwheels.ops.piw_remove
  - module: piwheels.ops.piw_package_info
"""

EXAMPLES = r"""
# "The project was deleted from PyPI at the maintainer's request: please delete the package from piwheels."
- name: Delete a package that was deleted from PyPI
  piwheels.ops.piw_package:
    package: foo
    state: absent
  become: true
  become_user: piwheels

# "We published our internal tool to PyPI by mistake and have deleted it there; please delete it too."
- name: Show what would be deleted first
  piwheels.ops.piw_package:
    package: foo-internal
    state: absent
  check_mode: true
  diff: true
  register: would_go

- name: Say what would go
  ansible.builtin.debug:
    msg: "{{ would_go.msg }}"
"""

RETURN = r"""
package:
  description: The canonical (PEP 503) name of the package.
  returned: success
  type: str
  sample: beta-tools
would_change:
  description:
    - Whether the task changed something or, in check mode and with O(plan=true), would change something.
    - The same as C(changed), except with O(plan=true), where C(changed) is always false.
  returned: success
  type: bool
  sample: true
  version_added: 0.4.0
existed:
  description: Whether the package existed before the task; when false, nothing was (or would be) deleted.
  returned: success
  type: bool
  sample: true
deleted_at:
  description:
    - When Mr Chase's audit log says the package was deleted (ISO 8601, UTC); null when it has no record, and
      then RV(unknown) is true.
  returned: when RV(existed) is false
  type: str
  sample: "2026-01-02T03:04:05.678+00:00"
  version_added: 0.4.0
unknown:
  description:
    - True when the package does not exist and nothing records that it ever did (probably a typo). The task stays
      C(ok) (the package is absent) and warns, naming close package names (RV(close)).
  returned: when RV(existed) is false
  type: bool
  sample: false
  version_added: 0.4.0
unknown_msg:
  description: When RV(unknown) is true, the warning that says so and names close packages; the runbook fails with it.
  returned: when RV(existed) is false
  type: str
  sample: piwheels has no package gamam and there is no record of deleting it; did you mean gamma?
  version_added: 0.4.0
close:
  description: The package names piwheels has that are closest to the one asked (Mr Chase's suggestion).
  returned: when RV(existed) is false
  type: list
  elements: str
  sample: ["gamma"]
  version_added: 0.4.0
versions:
  description:
    - The versions the package had, in piw-master's order as Mr Chase's STATUS gives it (V(1.9) before V(1.10);
      versions PEP 440 rejects, such as V(latest), first); all of them go.
  returned: success
  type: list
  elements: str
  sample: ["1.0", "1.1", "1.2"]
yanked:
  description: Which of those versions were yanked, in the same order.
  returned: success
  type: list
  elements: str
  sample: ["1.1"]
skip:
  description: The package's skip reason before the task; empty when it was not skipped.
  returned: success
  type: str
  sample: ""
builds:
  description: How many builds the package had, over every version.
  returned: success
  type: int
  sample: 3
file_count:
  description: How many files the package had, over every version, the archived ones included.
  returned: success
  type: int
  sample: 6
archived_count:
  description: How many of those files were not on this host (kept on an archive server); their rows go.
  returned: success
  type: int
  sample: 0
archived_files:
  description:
    - Each of those archived files, with where it is served, sorted by file name. Mr Chase keeps them pending
      (C(PENDING)) until the archive hosts of their location confirm them gone, or removes them itself from an
      archive mounted on the master.
    - Empty with a Mr Chase before 0.4.0, which does not report them.
  returned: success
  type: list
  elements: dict
  contains:
    location:
      description: The file's C(files.location), without a trailing slash.
      type: str
      returned: always
      sample: https://archive1.piwheels.example/simple
    package:
      description: The package (the directory on the archive host).
      type: str
      returned: always
      sample: beta-tools
    filename:
      description: The wheel's file name.
      type: str
      returned: always
      sample: beta_tools-1.0-cp34-cp34m-linux_armv6l.whl
  sample: []
  version_added: 0.4.0
downloads:
  description: How many download records the package's files had.
  returned: success
  type: int
  sample: 18
aliases:
  description: The package's other names (C(package_names)), sorted; they go with it.
  returned: success
  type: list
  elements: str
  sample: [beta_tools]
notice:
  description:
    - What became of the notice that asks piw-master to rewrite what this change affects, as Mr Chase reports it
      once the notice's first delivery attempt is over (its site STATUS C(outbox), asked again while it says
      C(sending), within O(timeout); none when nothing was sent).
    - C(delivered) piw-master took it; C(queued) it waits in Mr Chase's outbox (piw-master did not answer its first
      delivery attempt) and Mr Chase retries until it does; C(parked) Mr Chase gave up on it (see its audit
      log); C(refused) piw-master refused it; C(none) no notice was sent (nothing changed, check mode or
      planning, or no piw-master configured); C(unknown) Mr Chase could not be asked (the task warns).
  returned: success
  type: str
  sample: delivered
site_refreshed:
  description:
    - Whether piw-master was (in check mode, would be) told to rebuild its search index from the database.
      True when the package existed and Mr Chase has a piw-master to notify (C(mr_chase_master_queue) of the
      P(piwheels.ops.mr_chase#role) role). Mr Chase removes the package's pages and rewrites the root simple
      index itself.
  returned: success
  type: bool
  sample: true
msg:
  description: A one-line summary of what was (or would be) done.
  returned: always
  type: str
  sample: "deleted package beta-tools: 3 versions, 3 builds, 6 files and 18 downloads"
import_queue:
  description: The queue address, when the task failed talking to Mr Chase.
  returned: failure
  type: str
  sample: ipc:///run/mr-chase/queue
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import text_problem
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError, MrChaseRequestError
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.package import PackagePlan
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import notice_of, settling_error
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import is_unknown_package
from ansible_collections.piwheels.ops.plugins.module_utils.mr_chase_common import (
    acting,
    exit_with_plan,
    fail_from_error,
    mr_chase_argument_spec,
    mr_chase_client,
    refuse_non_strings,
)


def argument_spec() -> dict:
    spec = dict(
        package=dict(type="str", required=True),
        state=dict(type="str", required=True, choices=["absent"]),
    )
    spec.update(mr_chase_argument_spec(), plan=dict(type="bool", default=False))
    return spec


def survey(client, package: str) -> PackagePlan:
    """Ask STATUS of the package; ``unknown package`` means it is absent, any other ERROR fails.

    Absent is what the task wants, but "already deleted" only when Mr Chase
    records that it was (MATCH reads its audit log); otherwise the task is
    ``ok`` with a warning naming close packages, since it is probably a typo.
    """
    try:
        status = client.status(package)
    except MrChaseRequestError as error:
        if is_unknown_package(error.message):
            return PackagePlan(package, None, client.match(package))
        raise
    if status.get("settling"):
        raise settling_error(client, status["package"], [])
    return PackagePlan(package, status)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    refuse_non_strings(module)
    package = module.params["package"]
    problem = "package must not be empty" if not package else text_problem("package", package)
    if problem:
        module.fail_json(msg=f"{problem} ({package!r}); Mr Chase refuses it")
    done = []
    with mr_chase_client(module) as client:
        try:
            plan = survey(client, package)
            if acting(module):
                plan.carry_out(client, done)
                plan.unwritten_now = client.unwritten_pages
            notice = notice_of(client, plan, acting(module))
        except MrChaseError as error:
            fail_from_error(module, error, changed=bool(done))
    exit_with_plan(module, plan, notice=notice)


if __name__ == "__main__":
    main()
