#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_audit
short_description: Audit a whole piwheels master (database, wheels, pages) through Mr Chase, and repair what differs
version_added: 0.4.0
description:
  - Asks the master's removal service, Mr Chase, to hold the database (packages, versions, builds, files,
    aliases) against what the master serves (the wheels and index pages under C(simple/), the project pages and
    alias links under C(project/), the root index) and to name every difference as a finding of one of the
    kinds below. The database is the truth; the tree is repaired toward it, never the other way.
  - V(orphan_wheel) - a C(.whl) in C(simple/<package>/) with no C(files) row (what upstream's plain
    C(piw-remove) leaves). Repair moves it aside and deletes it, as a removal does.
  - V(missing_wheel) - a C(files) row of this host whose wheel is not on disk (a dead link). A wheel cannot be
    recreated, so the repair removes that file's build (its rows, its other files, their downloads) as a REMOVE
    would, never the version's other builds; piwheels builds the version again unless it is skipped (the
    finding's detail says which).
  - V(hash_mismatch) - with O(verify_hashes) only, a wheel whose sha256 differs from C(files.filehash). Repaired as
    V(missing_wheel).
  - V(stale_page) - C(simple/<package>/index.html) links differ from the database (a file too many or too few, a
    wrong hash, C(data-yanked) or C(data-requires-python)); V(missing_page) - no such page. Repair writes it in the
    master's format.
  - V(orphan_directory) - a directory under C(simple/) or C(project/) (or a link under C(project/)) that is no
    package and no alias. Repair moves it aside and deletes it.
  - V(broken_alias) and V(missing_alias) - a C(project/) alias link that dangles or points at the wrong package,
    or an alias of C(package_names) without its link. Repair writes the link.
  - V(stale_root_index) - C(simple/index.html) differs from the database's packages. Repair rewrites it.
  - V(stale_project_page) - the project page or its JSON lists a version or file the database no longer has.
    Repair asks piw-master to rewrite them; without a C(mr_chase_master_queue) nobody can, so the module leaves
    the kind out of O(repair) and warns.
  - V(foreign_file) - anything else in a package directory. Reported always, repaired (moved aside and deleted)
    only when O(repair) names it.
  - V(leftover_staging) - Mr Chase's own staging or set-aside entries that no journal entry accounts for.
    Repair deletes them.
  - V(orphan_archived_wheel) - a wheel an archive host serves under C(simple/<package>/) with no C(files) row at
    all (found only with O(archives)). Repair adds it to the pending list of its location, so the archive runbook
    (or C(piwheels.ops.archive_sync)) deletes it on the archive hosts.
  - V(missing_archived_wheel) - a C(files) row of an archive location whose wheel that location's listing lacks (a
    dead link; found only with O(archives)). Repaired as V(missing_wheel) - its build is removed.
  - Each repair is all or nothing per package, through Mr Chase's journal like any removal, and audited in its
    audit log. Each finding is checked again under the package's lock just before it is repaired, so an import
    or removal that ran meanwhile wins; a finding that no longer holds is returned with C(repaired=false) and a
    detail saying so, and the task warns about it.
  - Nothing modified within O(min_age) seconds (files, directories, links, pages by their mtime; rows by their
    build's time) is ever reported or repaired, so an import in flight is never taken for damage.
  - A whole-site audit may take much longer than O(timeout). Mr Chase runs it as a job of its own, beside its
    normal work (a removal sent meanwhile is answered), and the module follows the job to its end; O(timeout)
    bounds each answer, never the whole audit.
  - Only one audit runs at a time. A task started while one runs with the same options joins it (RV(job.joined));
    with other options it fails with Mr Chase's message naming the running job.
author:
  - piwheels.ops maintainers (@piwheels)
options:
  packages:
    description:
      - Audit only these packages (at most 1000 names; Mr Chase canonicalises them as PEP 503 says).
      - The site-wide kinds (V(stale_root_index), V(orphan_directory), V(leftover_staging)) are checked only
        when O(packages) is not given.
      - Default is every package of the site.
    type: list
    elements: str
  repair:
    description:
      - The kinds of finding to repair, or V(all) for every kind but V(foreign_file), which is repaired only when
        named (V([all, foreign_file]) is every kind).
      - An unknown kind fails the task before anything is sent, naming the kinds.
      - V(stale_project_page) is repaired by piw-master, whom Mr Chase asks to rewrite the pages. When Mr Chase
        has no piw-master to tell (no C(mr_chase_master_queue); its whole site STATUS says C(site_refresh=false))
        the task leaves that kind out, so that it is neither repaired nor counted in RV(would_repair), and warns.
      - Default is none - report only; the task is then always C(ok).
    type: list
    elements: str
    default: []
  verify_hashes:
    description:
      - Also read every wheel and compare its sha256 with C(files.filehash) (the V(hash_mismatch) kind). This
        reads the whole tree and takes much longer.
    type: bool
    default: false
  min_age:
    description:
      - Seconds; nothing modified more recently is reported or repaired (an import or a removal in flight).
      - V(0) takes everything as it is now (for tests, or a master that is stopped).
    type: int
    default: 3600
  archives:
    description:
      - The archive locations to audit, each with the listing of its archive host that C(piwheels.ops.piw_archive)
        (O(piwheels.ops.piw_archive#module:state=listed)) wrote, copied to this master. Mr Chase reads each
        listing (it must be readable by Mr Chase's user) and compares it with the C(files) rows of that
        location (the V(orphan_archived_wheel) and V(missing_archived_wheel) kinds). A listing Mr Chase cannot
        read fails the task with Mr Chase's message naming the file.
      - Default is none - the archives are not audited.
    type: list
    elements: dict
    default: []
    suboptions:
      location:
        description: The archive location (C(files.location)); a trailing slash is ignored.
        type: str
        required: true
      listing:
        description: Absolute path on the master of that location's listing, one C(package/filename) per line.
        type: path
        required: true
extends_documentation_fragment:
  - piwheels.ops.mr_chase
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - The audit runs with nothing to repair; every finding has C(repaired=false), and C(changed) (and
        RV(would_repair)) say whether a real run would repair something.
  diff_mode:
    support: none
    details:
      - RV(findings) say what differs and, after a real run, what was repaired.
  idempotent:
    support: full
    details:
      - After a real run with O(repair), a second run with the same options finds nothing of the repaired kinds
        (unless the site changed meanwhile) and reports C(ok).
notes:
  - Use O(packages) to check a few packages after a removal ("is 1.2 really gone everywhere?"), and the
    C(piwheels.ops.audit) runbook for the whole site, which writes the report as JSON, Markdown and Prometheus
    metrics.
  - The last audit and the one running appear in the whole site's STATUS (C(["STATUS", null, null])).
seealso:
  - module: piwheels.ops.piw_remove
  - module: piwheels.ops.piw_package_info
"""

EXAMPLES = r"""
- name: Audit the whole site, repairing nothing
  piwheels.ops.piw_audit:
  register: audit
  become: true
  become_user: piwheels

- name: What a repair of everything would do (check mode repairs nothing)
  piwheels.ops.piw_audit:
    repair: all
  check_mode: true
  register: audit_plan

- name: Repair orphan wheels and stale pages of two packages, comparing every wheel's hash too
  piwheels.ops.piw_audit:
    packages: [foo, bar]
    repair: [orphan_wheel, stale_page]
    verify_hashes: true

- name: Fail when anything is wrong
  ansible.builtin.assert:
    that: audit.findings | length == 0
    fail_msg: "{{ audit.msg }}"
"""

RETURN = r"""
findings:
  description:
    - Every difference found, packages in name order, each once.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The kind of finding (see the description).
      type: str
      returned: always
      sample: orphan_wheel
    package:
      description:
        - The canonical name of the package it concerns; the directory's name for an orphan directory; null for
          a site-wide finding (root index, staging). An alias finding names the alias in RV(findings[].path) and
          the package it should point at in RV(findings[].detail).
      type: str
      returned: always
      sample: foo
    path:
      description: The file, directory, link or page, relative to the master's output path.
      type: str
      returned: always
      sample: simple/foo/foo-1.0-py3-none-any.whl
    detail:
      description: What is wrong, and after a repair what was done (or why not).
      type: str
      returned: always
      sample: no files row
    repaired:
      description: Whether this run repaired it (always false in check mode).
      type: bool
      returned: always
      sample: true
counts:
  description: How many findings of each kind, every kind present (0 included).
  returned: always
  type: dict
  sample: {orphan_wheel: 1, missing_wheel: 0, hash_mismatch: 0, stale_page: 1, missing_page: 0, orphan_directory: 0,
           broken_alias: 0, missing_alias: 0, stale_root_index: 0, stale_project_page: 0, foreign_file: 0,
           leftover_staging: 0, orphan_archived_wheel: 0, missing_archived_wheel: 0}
scanned:
  description: What the audit examined.
  returned: always
  type: dict
  contains:
    packages:
      description: Packages audited.
      type: int
      returned: always
      sample: 2
    files:
      description: Wheel files examined on disk.
      type: int
      returned: always
      sample: 12
    bytes_hashed:
      description: Bytes read to compare hashes (0 without O(verify_hashes)).
      type: int
      returned: always
      sample: 0
job:
  description: Mr Chase's audit job that this task started or joined.
  returned: always
  type: dict
  contains:
    id:
      description: The job's id.
      type: str
      returned: always
      sample: 20260102T030405Z-1
    state:
      description: V(done), or V(failed) when the task failed.
      type: str
      returned: always
      sample: done
    options:
      description:
        - The options the job runs with, as Mr Chase reports them (C(packages) null for every package; C(repair)
          empty in check mode).
      type: dict
      returned: always
      sample: {packages: null, repair: [orphan_wheel], verify_hashes: false, min_age: 3600}
    started:
      description: When the job started (ISO-8601, UTC).
      type: str
      returned: always
      sample: "2026-01-02T03:04:05Z"
    finished:
      description: When it ended (ISO-8601, UTC).
      type: str
      returned: always
      sample: "2026-01-02T03:04:09Z"
    joined:
      description: Whether the task joined an audit already running with the same options.
      type: bool
      returned: always
      sample: false
    duration:
      description: Seconds from start to end.
      type: float
      returned: always
      sample: 4.0
    finished_epoch:
      description: When it ended, in seconds since the Unix epoch (for metrics).
      type: float
      returned: always
      sample: 1767323049.0
repair:
  description:
    - The kinds the task repairs (in check mode, would), O(repair) with V(all) expanded, in report order;
      without V(stale_project_page) when Mr Chase has no piw-master to refresh project pages.
  returned: always
  type: list
  elements: str
  sample: [orphan_wheel, stale_page]
would_repair:
  description:
    - How many findings are of a kind O(repair) names. In check mode, what a real run would repair; in a real run,
      what it tried to repair (RV(repaired) says how many it did).
  returned: always
  type: int
  sample: 2
repaired:
  description: How many findings this run repaired (0 in check mode).
  returned: always
  type: int
  sample: 2
changed:
  description: Whether something was repaired (in check mode, whether a real run would repair something).
  returned: always
  type: bool
  sample: true
msg:
  description: One line saying what was found and repaired, or why the task failed.
  returned: always
  type: str
  sample: "audited 120 packages, 840 wheel files: 2 findings (orphan_wheel 1, stale_page 1), 2 repaired"
import_queue:
  description: The queue address, when the task failed talking to Mr Chase.
  returned: failure
  type: str
  sample: ipc:///run/mr-chase/queue
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.site_audit import (
    REFRESHED_BY_MASTER,
    AuditFailed,
    audit_options,
    follow,
    kinds_to_repair,
    package_problem,
    repairable,
)
from ansible_collections.piwheels.ops.plugins.module_utils.mr_chase_common import (
    fail_from_error,
    mr_chase_argument_spec,
    mr_chase_client,
    refuse_non_strings,
)

#: at most this many warnings about findings left unrepaired; the rest are counted in one more
SHOWN_WARNINGS = 20


def argument_spec():
    spec = dict(
        packages=dict(type="list", elements="str"),
        repair=dict(type="list", elements="str", default=[]),
        verify_hashes=dict(type="bool", default=False),
        min_age=dict(type="int", default=3600),
        archives=dict(type="list", elements="dict", default=[], options=dict(
            location=dict(type="str", required=True), listing=dict(type="path", required=True))),
    )
    spec.update(mr_chase_argument_spec())
    return spec


def checked_kinds(module):
    """The kinds to repair, once every option is checked; fails the task saying what is wrong before anything is
    sent."""
    params = module.params
    try:
        kinds = kinds_to_repair(params["repair"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    problem = package_problem(params["packages"])
    if problem:
        module.fail_json(msg=problem)
    if params["min_age"] < 0:
        module.fail_json(msg=f"min_age must be 0 or more seconds, got {params['min_age']}")
    for archive in params["archives"]:
        if not archive["location"] or not archive["listing"].startswith("/"):
            module.fail_json(msg=f"archives: {archive!r} needs a location and an absolute listing path")
    return kinds


def kinds_mr_chase_repairs(client, asked):
    """``asked`` without project pages when Mr Chase has no piw-master to refresh them (the whole site's STATUS,
    asked only when they are to be repaired)."""
    return repairable(asked, client.site_status()["site_refresh"] if REFRESHED_BY_MASTER in asked else True)


def options_of(module, kinds):
    """AUDIT's options: nothing to repair in check mode."""
    params = module.params
    repair = [] if module.check_mode else kinds
    return audit_options(params["packages"], repair, params["verify_hashes"], params["min_age"], params["archives"])


def result_of(outcome, kinds, check_mode):
    """The module's result for a followed job, all but its message: findings, counts, scanned, job, and what was
    (or would be) repaired."""
    findings = outcome.findings
    would_repair = sum(1 for finding in findings if finding["kind"] in kinds)
    repaired = sum(1 for finding in findings if finding["repaired"])
    return dict(
        changed=would_repair > 0 if check_mode else repaired > 0,
        findings=findings,
        counts=outcome.last["counts"],
        scanned=outcome.last["scanned"],
        job=outcome.job_summary(),
        repair=kinds,
        would_repair=would_repair,
        repaired=repaired,
    )


def summary(outcome, repaired, would_repair, check_mode):
    """One line: what was audited, found (per kind) and repaired."""
    scanned, counts = outcome.last["scanned"], outcome.last["counts"]
    found = ", ".join(f"{kind} {number}" for kind, number in counts.items() if number)
    line = (f"audited {scanned['packages']} package(s), {scanned['files']} wheel file(s): "
            f"{len(outcome.findings)} finding(s)" + (f" ({found})" if found else ""))
    if check_mode:
        return line + f"; a real run would repair {would_repair}"
    return line + (f", {repaired} repaired" if would_repair else "")


def warn_unrepaired(module, findings, kinds, asked):
    """Warn about each finding a real run asked to repair and did not (it no longer held, say), in Mr Chase's
    words, at most SHOWN_WARNINGS of them; and, in check mode too, about project pages that no piw-master can
    refresh."""
    left = [f for f in findings if f["kind"] in kinds and not f["repaired"]] if not module.check_mode else []
    for finding in left[:SHOWN_WARNINGS]:
        module.warn(f"{finding['kind']} {finding['path']} not repaired: {finding['detail']}")
    if len(left) > SHOWN_WARNINGS:
        module.warn(f"{len(left) - SHOWN_WARNINGS} more finding(s) of the kinds to repair were not repaired: "
                    "see findings")
    pages = sum(1 for f in findings if f["kind"] == REFRESHED_BY_MASTER)
    if pages and REFRESHED_BY_MASTER in asked and REFRESHED_BY_MASTER not in kinds:
        module.warn(f"{pages} {REFRESHED_BY_MASTER} finding(s) left as they are: only piw-master rewrites project "
                    "pages, and Mr Chase has no piw-master to tell (set mr_chase_master_queue)")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    refuse_non_strings(module)
    asked = checked_kinds(module)
    with mr_chase_client(module) as client:
        try:
            kinds = kinds_mr_chase_repairs(client, asked)
            outcome = follow(client, options_of(module, kinds))
        except AuditFailed as failure:
            module.fail_json(msg=f"the audit failed in Mr Chase (job {failure.outcome.first['id']}): {failure}",
                             **result_of(failure.outcome, kinds, module.check_mode))
        except MrChaseError as error:
            fail_from_error(module, error)
    result = result_of(outcome, kinds, module.check_mode)
    warn_unrepaired(module, outcome.findings, kinds, asked)
    module.exit_json(msg=summary(outcome, result["repaired"], result["would_repair"], module.check_mode), **result)


if __name__ == "__main__":
    main()
