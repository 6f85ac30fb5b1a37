#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_archive_pending
short_description: Read and acknowledge the archived wheels Mr Chase lists as still served by archive servers
version_added: 0.4.0
description:
  - When a removal (REMOVE, FORGET, DELETE) deletes the rows of wheels kept on an archive server (their
    C(files.location) is not C(/simple)), Mr Chase keeps them on a durable pending list per location until
    told that every archive host of that location has deleted them.
  - Without O(location), returns every location with something pending and how much (Mr Chase's site STATUS).
  - With O(location), returns the oldest pending files of that location (at most 1,000, with the
    total), ready to give to P(piwheels.ops.piw_archive#module) on the archive hosts; with O(acknowledge), tells
    Mr Chase that those files are gone from every host of the location (the ARCHIVED request), and returns what
    is pending after that.
  - The C(piwheels.ops.remove) and C(piwheels.ops.archive_sync) runbooks use it; acknowledge only files that
    every host of the location confirmed deleted, or they are forgotten while still served.
author:
  - piwheels.ops maintainers (@piwheels)
options:
  location:
    description:
      - The archive location, exactly the C(files.location) of the wheels' rows (the inventory's
        C(piw_archive_location)); with or without a trailing slash, which Mr Chase ignores.
      - At most 300 characters, no control characters.
      - Omitted, the module lists every location with something pending, and O(acknowledge) must be empty.
    type: str
  acknowledge:
    description:
      - Files of O(location) that no host of it serves any more; Mr Chase drops them from the pending list.
      - Only files among the pending ones the module reads first (the oldest 1,000) are acknowledged; others are
        ignored and not sent. Acknowledging a file that is not pending changes nothing (the task is C(ok)).
      - Each filename must be a wheel (C(.whl)) and neither name may hold a slash or start a path out of the
        tree; a bad entry fails the task before anything is sent.
    type: list
    elements: dict
    default: []
    suboptions:
      package:
        description: The package, as the pending list gives it.
        type: str
        required: true
      filename:
        description: The wheel's file name.
        type: str
        required: true
extends_documentation_fragment:
  - piwheels.ops.mr_chase
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the pending list and reports what it would acknowledge; never acknowledges anything.
  diff_mode:
    support: full
    details:
      - The diff lists, as C(package/filename) lines, the files dropped from the pending list.
  idempotent:
    support: full
seealso:
  - module: piwheels.ops.piw_archive
  - module: piwheels.ops.piw_remove
"""

EXAMPLES = r"""
- name: Which archive locations have wheels still to delete
  piwheels.ops.piw_archive_pending:
  register: pending

- name: The wheels still served at one location
  piwheels.ops.piw_archive_pending:
    location: https://archive1.piwheels.example/simple
  register: archive1

- name: Delete them on its archive host
  piwheels.ops.piw_archive:
    root: /srv/archive
    files: "{{ archive1.files }}"
  delegate_to: archive1.piwheels.example
  register: deleted

- name: Tell Mr Chase they are gone
  piwheels.ops.piw_archive_pending:
    location: https://archive1.piwheels.example/simple
    acknowledge: "{{ deleted.removed + deleted.already_absent }}"
"""

RETURN = r"""
locations:
  description: Every location with files pending, and how many. Only without O(location).
  returned: success, without O(location)
  type: dict
  sample: {"https://archive1.piwheels.example/simple": 3}
location:
  description: The location as Mr Chase stores it, without a trailing slash.
  returned: success, with O(location)
  type: str
  sample: https://archive1.piwheels.example/simple
files:
  description:
    - The files of O(location) still pending after the task (in check mode, as they would be), oldest first, at
      most 1,000 of them.
  returned: success, with O(location)
  type: list
  elements: dict
  sample: [{package: foo, filename: foo-1.0-cp311-cp311-linux_armv7l.whl}]
total:
  description: How many files are pending (at O(location), or over every location without it).
  returned: success
  type: int
  sample: 1
acknowledged:
  description: The files of O(acknowledge) that were pending and are acknowledged (in check mode, would be).
  returned: success, with O(location)
  type: list
  elements: dict
  sample: [{package: foo, filename: foo-1.0-cp311-cp311-linux_armv6l.whl}]
msg:
  description: What the task did, or why it failed.
  returned: always
  type: str
  sample: acknowledged 1 file of https://archive1.piwheels.example/simple; 1 still pending
import_queue:
  description: The queue address, when the task failed talking to Mr Chase.
  returned: failure
  type: str
  sample: ipc:///run/mr-chase/queue
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import (
    MAX_ARCHIVE_FILES,
    archive_problem,
    check_archive_files,
)
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
from ansible_collections.piwheels.ops.plugins.module_utils.mr_chase_common import (
    fail_from_error,
    mr_chase_argument_spec,
    mr_chase_client,
    refuse_non_strings,
)


def argument_spec():
    spec = dict(
        location=dict(type="str"),
        acknowledge=dict(type="list", elements="dict", default=[], options=dict(
            package=dict(type="str", required=True),
            filename=dict(type="str", required=True),
        )),
    )
    spec.update(mr_chase_argument_spec())
    return spec


def as_pairs(files):
    """The [package, filename] pairs of a list of {package, filename}, without repeats, in order."""
    return list(dict.fromkeys((entry["package"], entry["filename"]) for entry in files))


def as_dicts(pairs):
    return [dict(package=package, filename=filename) for package, filename in pairs]


def check_request(module):
    """Fail, before anything is sent, on what Mr Chase would refuse: a bad location or acknowledged name."""
    location, pairs = module.params["location"], as_pairs(module.params["acknowledge"])
    if location is None:
        if pairs:
            module.fail_json(msg="acknowledge needs location: the files of which archive location are gone?")
        return
    problems = (check_archive_files(package, filename) for package, filename in pairs)
    problem = archive_problem(location) or next((each for each in problems if each), None)
    if problem:
        module.fail_json(msg=f"{problem}; nothing was acknowledged")


def every_location(module, client):
    """Without a location: every location with something pending (site STATUS ``archives``)."""
    archives = client.site_status().get("archives", {})
    locations = {location: state["pending"] for location, state in sorted(archives.items())}
    total = sum(locations.values())
    module.exit_json(changed=False, locations=locations, total=total,
                     msg=f"{total} archived files pending over {len(locations)} locations")


def acknowledge(module, client, location):
    """Read the pending list, acknowledge the files of ``acknowledge`` found on it, and read it again."""
    before = client.pending(location)
    listed = [tuple(pair) for pair in before["files"]]
    listed_set = set(listed)
    acknowledged = [pair for pair in as_pairs(module.params["acknowledge"]) if pair in listed_set]
    after = before
    if acknowledged and not module.check_mode:
        for start in range(0, len(acknowledged), MAX_ARCHIVE_FILES):
            client.archived(location, acknowledged[start : start + MAX_ARCHIVE_FILES])
        after = client.pending(location)
    elif acknowledged:
        gone = set(acknowledged)
        after = dict(before, files=[pair for pair in listed if pair not in gone],
                     total=before["total"] - len(acknowledged))
    return before, after, acknowledged


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    refuse_non_strings(module)
    check_request(module)
    location = module.params["location"]
    with mr_chase_client(module) as client:
        try:
            if location is None:
                every_location(module, client)
            before, after, acknowledged = acknowledge(module, client, location)
        except MrChaseError as error:
            fail_from_error(module, error)
    verb = "would acknowledge" if module.check_mode else "acknowledged"
    result = dict(
        changed=bool(acknowledged),
        location=before["location"],
        files=as_dicts(after["files"]),
        total=after["total"],
        acknowledged=as_dicts(acknowledged),
        msg=f"{verb} {len(acknowledged)} files of {before['location']}; {after['total']} still pending",
    )
    if module._diff:
        result["diff"] = dict(before_header=f"pending at {before['location']}",
                              after_header=f"pending at {before['location']}",
                              before="".join(f"{p}/{f}\n" for p, f in acknowledged), after="")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
