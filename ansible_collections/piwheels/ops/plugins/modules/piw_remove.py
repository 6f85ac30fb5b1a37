#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_remove
short_description: Remove, forget, yank, unyank or un-skip package versions on a piwheels master through Mr Chase
version_added: 0.1.0
description:
  - Does to one or more versions of a package what maintainers ask of piwheels ("please remove 5.0.0, it is
    broken"; "yank 2.0.1, it broke on armv6"; "remove everything and never build it again"), by asking the
    master's removal service, Mr Chase, over its ZeroMQ import queue. O(state) says what to do.
  - V(removed) (the default) deletes every build of the version, its wheel files on disk, their file and download
    records, and rewrites the package's index page. The version itself stays known to piwheels, so it can be
    marked skipped (O(skip)) and is never built again. Files kept on an archive server rather than on this host
    lose their rows and are reported apart, as RV(versions.archived).
  - V(forgotten) does what V(removed) does and deletes the version row too, in the same transaction (what
    upstream's plain C(piw-remove) means). Afterwards piwheels does not know the version at all. Use it for a
    release uploaded by mistake; to keep a version from being built again, remove it with O(skip) instead.
  - V(yanked) and V(unyanked) set or clear the version's PEP 592 yanked flag; the links of its files on the
    index page gain or lose C(data-yanked). The wheels stay; pip still installs a yanked release pinned exactly
    (C(foo==2.0.1)) but never picks it otherwise.
  - V(unskipped) clears the version's skip reason, so piwheels builds it again. With O(version=all) it also
    clears the package's own skip reason. A removal never clears a skip; this is the explicit way.
  - Mr Chase does each request in one transaction, all or nothing. To delete a whole package (its rows, its
    aliases, its directories) use M(piwheels.ops.piw_package) instead.
  - When Mr Chase is configured with piw-master's queue, piw-master is told after each change and rewrites the
    project page and the JSON API too (RV(site_refreshed)); otherwise the task warns that they were not refreshed.
  - Versions are listed in piw-master's order as Mr Chase's STATUS gives it (V(1.9) before V(1.10); versions
    PEP 440 rejects, such as V(latest), first), in RV(msg) and the diff.
  - A version spelled otherwise than piwheels stores it (V(1.1.0) or V(v1.1) for V(1.1)) is matched by Mr Chase
    by PEP 440 equality, and the task acts on, and reports, the stored version (RV(matched) says which).
  - The module asks Mr Chase for the STATUS of the package and of every requested version before it sends
    anything that changes state. An unknown package fails the task, naming close package names; so does a
    version that matches none, naming the versions the package has, except with O(state=forgotten). There a
    version the package does not have is already forgotten (RV(already_forgotten)) only when Mr Chase's audit
    log records that it was; otherwise it is listed in RV(unknown), the task stays C(ok) for it and warns,
    suggesting what was meant. When the task fails there, nothing was changed.
  - The task reports C(changed) only when something would change. V(removed) - builds, files or download records
    existed, or a skip reason changes. V(forgotten) - the version exists. V(yanked), V(unyanked) - the flag
    differs. V(unskipped) - a skip reason is set. A second run with the same arguments reports C(ok) and sends
    nothing but STATUS.
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
      - The version, or a list of versions, or V(all) for every version the package has.
      - Quote versions in YAML, V("1.10") rather than V(1.10). YAML reads an unquoted version as a number,
        and the module refuses numbers rather than guess what they were.
      - V(all) cannot be combined with other versions.
      - Give several versions of a package as one list rather than a C(loop). One task asks Mr Chase about
        all of them in one pipelined exchange; a loop pays for a whole module run on the host per version
        (about 25 times slower for 50 versions in this collection's benchmark).
    type: raw
    required: true
  state:
    description:
      - What the versions should be after the task.
      - V(removed) - no builds, files, download records or wheels; the version stays known (and can be skipped).
      - V(forgotten) - not known to piwheels at all; its builds, files, download records, wheels and row are gone.
      - V(yanked) - yanked (PEP 592); its wheels stay, their links on the index page carry C(data-yanked).
      - V(unyanked) - not yanked.
      - V(unskipped) - not skipped, so piwheels builds them; with O(version=all) the package is not skipped either.
    type: str
    choices: [removed, forgotten, yanked, unyanked, unskipped]
    default: removed
    version_added: 0.3.0
  skip:
    description:
      - Also mark each removed version skipped, so piwheels does not build it again.
      - A version that is already skipped keeps its reason; one that is not gets the reason
        V(removed by request).
      - With O(version=all), the package is marked skipped too.
      - When V(false) and O(skip_reason) is not given, skip reasons are left as they are.
      - With O(state=forgotten) only together with O(version=all), and then it marks the package alone (the
        forgotten versions have no row left to mark), so that its new releases are never built.
      - Not allowed with O(state=yanked), O(state=unyanked) or O(state=unskipped); the task fails, changing nothing.
    type: bool
    default: false
  skip_reason:
    description:
      - Mark the versions skipped with this reason (and, with O(version=all), the package too), replacing
        any reason they had. Implies O(skip=true), and is allowed where O(skip) is.
      - At most 100 characters, not only white space, no control characters, bidirectional controls or zero-width
        characters.
    type: str
extends_documentation_fragment:
  - piwheels.ops.mr_chase
  - piwheels.ops.mr_chase.plan
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - Asks Mr Chase for STATUS only and reports what a real run would do; sends nothing that changes state.
  diff_mode:
    support: full
    details:
      - O(state=removed) and O(state=forgotten) list the files, skip reasons (and forgotten versions) before
        and after; O(state=yanked) and O(state=unyanked) the yanked flag of each version; O(state=unskipped) the
        skip reasons.
      - With O(plan=true) there is no diff (the task changes nothing); the task that acts shows it.
  idempotent:
    support: full
seealso:
  - module: piwheels.ops.piw_package
  - module: piwheels.ops.piw_package_info
  - name: PEP 592 - Adding "Yank" Support to the Simple API
    link: https://peps.python.org/pep-0592/
    description: What a yanked release means to pip.
"""

EXAMPLES = r"""
# "Please remove 5.0.0, it is broken."
- name: Remove a broken release
  piwheels.ops.piw_remove:
    package: foo
    version: "5.0.0"
  become: true
  become_user: piwheels

# "5.0.0 and 5.0.1 segfault on import on the Pi; please take them down and don't rebuild them."
- name: Remove two releases and stop them being built again
  piwheels.ops.piw_remove:
    package: foo
    version:
      - "5.0.0"
      - "5.0.1"
    skip: true
  become: true
  become_user: piwheels

# "We don't support the Pi; please remove everything and never build it again."
- name: Remove everything and never build the package again
  piwheels.ops.piw_remove:
    package: foo
    version: all
    skip_reason: "maintainer asked, see issue 42"
  become: true
  become_user: piwheels

# "Please yank 2.0.1, it broke on armv6; people who pinned it can keep it."
- name: Yank a release that broke on armv6
  piwheels.ops.piw_remove:
    package: foo
    version: "2.0.1"
    state: yanked
  become: true
  become_user: piwheels

# "2.0.1 was yanked by mistake on PyPI and has been restored there; please follow."
- name: Unyank a release
  piwheels.ops.piw_remove:
    package: foo
    version: "2.0.1"
    state: unyanked
  become: true
  become_user: piwheels

# "3.0.0 was uploaded by mistake (it was meant for the test index); please forget it entirely."
- name: Forget a release uploaded by mistake
  piwheels.ops.piw_remove:
    package: foo
    version: "3.0.0"
    state: forgotten
  become: true
  become_user: piwheels

# "Builds of 4.1.0 were skipped because the release was broken; it is fixed upstream, please build it."
- name: Un-skip a release that is fixed upstream
  piwheels.ops.piw_remove:
    package: foo
    version: "4.1.0"
    state: unskipped
  become: true
  become_user: piwheels

# "We fixed our build on ARM; please build the project again, every release."
- name: Clear every skip reason of the package and of its versions
  piwheels.ops.piw_remove:
    package: foo
    version: all
    state: unskipped
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
state:
  description: The O(state) the task brought the versions to.
  returned: success
  type: str
  sample: removed
  version_added: 0.3.0
versions:
  description:
    - What was done (or, in check mode, would be done) to each requested version, keyed by version. With
      O(version=all), every version the package had.
    - With O(state=forgotten), only the versions the package had; the others are in RV(already_forgotten).
    - The keys of each entry depend on O(state), as said below.
  returned: success
  type: dict
  contains:
    builds:
      description: How many builds the version had.
      type: int
      returned: when O(state) is V(removed) or V(forgotten)
      sample: 1
    files:
      description: The wheel files of the version on this host (their rows and the wheels on disk go), sorted.
      type: list
      elements: str
      returned: when O(state) is V(removed) or V(forgotten)
      sample: [beta_tools-1.0-cp37-cp37m-linux_armv7l.whl, beta_tools-1.0-py3-none-any.whl]
    archived:
      description:
        - The files of the version that are not on this host (their C(files.location) is an archive server,
          not C(/simple)), sorted. Their rows go; Mr Chase keeps them pending for their archive hosts (see
          RV(archived_files)), or removes them itself from an archive mounted on the master.
        - Empty with a Mr Chase older than 0.2, which does not report them.
      type: list
      elements: str
      returned: when O(state) is V(removed) or V(forgotten)
      sample: []
    downloads:
      description: How many download records the files had.
      type: int
      returned: when O(state) is V(removed) or V(forgotten)
      sample: 6
    skip_before:
      description: The version's skip reason before the task; empty when it was not skipped.
      type: str
      returned: when O(state) is V(removed), V(forgotten) or V(unskipped)
      sample: ""
    skip_after:
      description:
        - The version's skip reason after the task; empty when it is not skipped.
        - Always empty with O(state=forgotten) (the version row and its reason are gone) and O(state=unskipped).
      type: str
      returned: when O(state) is V(removed), V(forgotten) or V(unskipped)
      sample: removed by request
    yanked_before:
      description: Whether the version was yanked before the task.
      type: bool
      returned: when O(state) is V(yanked) or V(unyanked)
      sample: false
      version_added: 0.3.0
    yanked_after:
      description: Whether the version is yanked after the task.
      type: bool
      returned: when O(state) is V(yanked) or V(unyanked)
      sample: true
      version_added: 0.3.0
    changed:
      description:
        - Whether the task changed this version (removed something, forgot it, changed its flag or reason); in
          check mode and with O(plan=true), whether it would.
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
archived_files:
  description:
    - Each archived file (RV(versions.archived)) of the versions that changed, with where it is served, in the
      order of the versions. Mr Chase keeps these pending (C(PENDING)) until the archive hosts of their location
      confirm them gone (the C(piwheels.ops.archive_sync) playbook).
    - C(location) is empty with a Mr Chase before 0.4.0, which does not report it.
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
matched:
  description:
    - The requested versions spelled otherwise than piwheels stores them, each with the stored version it matched
      by PEP 440 equality (Mr Chase's C(packaging)); RV(versions) and the requests use the stored spelling.
  returned: success
  type: dict
  sample: {"1.1.0": "1.1", "v1.2": "1.2"}
  version_added: 0.4.0
would_change:
  description:
    - Whether the task changed something or, in check mode and with O(plan=true), would change something.
    - The same as C(changed), except with O(plan=true), where C(changed) is always false.
  returned: success
  type: bool
  sample: true
  version_added: 0.4.0
forgotten:
  description: The versions that were (in check mode, would be) forgotten, in piw-master's order.
  returned: success and O(state=forgotten)
  type: list
  elements: str
  sample: ["3.0.0"]
  version_added: 0.3.0
already_forgotten:
  description:
    - The requested versions the package does not have and Mr Chase's audit log records were forgotten (or
      deleted with the package), as requested, in the order asked.
    - Since 0.4.0 only those with a record; the others are in RV(unknown).
  returned: success and O(state=forgotten)
  type: list
  elements: str
  sample: []
  version_added: 0.3.0
already_forgotten_at:
  description: When the audit log says each version of RV(already_forgotten) was forgotten (ISO 8601, UTC).
  returned: success and O(state=forgotten)
  type: dict
  sample: {"1.2": "2026-01-02T03:04:05.678+00:00"}
  version_added: 0.4.0
unknown_msg:
  description:
    - Why each version of RV(unknown) is unknown and what was probably meant, as the warnings say it; empty when
      RV(unknown) is. The runbook fails with it.
  returned: success and O(state=forgotten)
  type: str
  sample: gamma has no version 1.20 and there is no record of forgetting it; gamma has 1.0, 1.1, 1.2; did you mean 1.2?
  version_added: 0.4.0
unknown:
  description:
    - The requested versions the package does not have and nothing records were ever forgotten (probably a typo).
      The task stays C(ok) for them (they are absent) and warns, naming the versions the package has and the
      closest ones.
  returned: success and O(state=forgotten)
  type: list
  elements: str
  sample: ["1.20"]
  version_added: 0.4.0
package_skip:
  description:
    - The package's own skip reason before and after the task; empty when not skipped.
    - Only O(version=all) with O(skip) or O(skip_reason) (O(state=removed) or O(state=forgotten)), or with
      O(state=unskipped), changes it.
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
    - Whether piw-master was (in check mode, would be) told to rewrite the package's project page, its JSON API
      entry and the simple index from the database. True when the task changed something and Mr Chase has a
      piw-master to notify (C(mr_chase_master_queue) of the P(piwheels.ops.mr_chase#role) role).
    - When the task changed something and this is false, the task also warns that the project pages and JSON
      API were not refreshed.
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

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.plans import failure_message, notice_of
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.release_options import (
    STATES,
    skip_asked,
    versions_asked,
)
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.release_survey import survey_releases
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
        version=dict(type="raw", required=True),
        state=dict(type="str", default="removed", choices=list(STATES)),
        skip=dict(type="bool", default=False),
        skip_reason=dict(type="str"),
    )
    spec.update(mr_chase_argument_spec(), plan=dict(type="bool", default=False))
    return spec


def requested(module) -> tuple:
    """The versions (None: all) and the skip argument the options ask for; the task fails on bad input
    before Mr Chase is asked anything."""
    params = module.params
    try:
        versions = versions_asked(params["package"], params["version"])
        return versions, skip_asked(params["state"], params["skip"], params["skip_reason"], versions is None)
    except ValueError as error:
        module.fail_json(msg=str(error))


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    refuse_non_strings(module)
    versions, skip = requested(module)
    done = []
    plan = None
    notice = "none"
    with mr_chase_client(module) as client:
        try:
            plan = survey_releases(client, module.params["package"], versions, skip, module.params["state"])
            if acting(module):
                plan.carry_out(client, done)
                plan.unwritten_now = client.unwritten_pages
            notice = notice_of(client, plan, acting(module))
        except MrChaseError as error:
            changed = bool(done or error.done_after)
            package = plan.package if plan is not None else module.params["package"]
            error = MrChaseError(error.address, failure_message(error, package, done))
            fail_from_error(module, error, changed=changed)
    exit_with_plan(module, plan, notice=notice, state=module.params["state"], matched=plan.matched)


if __name__ == "__main__":
    main()
