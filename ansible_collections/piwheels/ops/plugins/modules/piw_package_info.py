#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_package_info
short_description: Show what a piwheels master holds for a package, through Mr Chase
version_added: 0.1.0
description:
  - Asks the master's removal service, Mr Chase, for the STATUS of a package, its skip reason and its versions,
    and optionally for the builds, files and download counts of its versions.
  - Read only; it never changes anything, so it is safe in check mode and before a removal to see what
    P(piwheels.ops.piw_remove#module) would take down.
author:
  - piwheels.ops maintainers (@piwheels)
options:
  package:
    description:
      - The package name; Mr Chase canonicalises it as PEP 503 says.
    type: str
    required: true
  versions:
    description:
      - Which versions to return RV(details) for.
      - V(false) returns none, V(true) or V(all) every version the package has, and a version or a list of
        versions just those. Quote versions in YAML so that they are not read as numbers.
      - An unknown version fails the task with Mr Chase's message.
    type: raw
    default: false
extends_documentation_fragment:
  - piwheels.ops.mr_chase
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so check mode changes nothing about what it does.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing.
  idempotent:
    support: full
seealso:
  - module: piwheels.ops.piw_remove
"""

EXAMPLES = r"""
- name: Read the package's skip reason and versions
  piwheels.ops.piw_package_info:
    package: foo
  register: foo_info

- name: Read every version's builds, files and downloads
  piwheels.ops.piw_package_info:
    package: foo
    versions: all
  register: foo_info

- name: Read one version
  piwheels.ops.piw_package_info:
    package: foo
    versions: "5.0.0"
  register: foo_info

- name: Show the files of 5.0.0
  ansible.builtin.debug:
    var: foo_info.details['5.0.0'].files
"""

RETURN = r"""
package:
  description: The canonical (PEP 503) name of the package.
  returned: success
  type: str
  sample: beta-tools
skip:
  description: The package's skip reason; empty when piwheels builds it.
  returned: success
  type: str
  sample: ""
versions:
  description:
    - Every version the package has, in piw-master's order as Mr Chase's STATUS gives it (V(1.9) before V(1.10);
      versions PEP 440 rejects, such as V(latest), first).
  returned: success
  type: list
  elements: str
  sample: ["1.0", "1.1", "1.2"]
details:
  description: Per requested version, what exists for it now. Empty when O(versions=false).
  returned: success
  type: dict
  contains:
    skip:
      description: The version's skip reason; empty when not skipped.
      type: str
      returned: always
      sample: ""
    yanked:
      description: Whether the version is yanked (PEP 592).
      type: bool
      returned: when Mr Chase reports it
      sample: false
    builds:
      description: How many builds the version has.
      type: int
      returned: always
      sample: 1
    files:
      description: The files of the version, sorted, wherever they are kept.
      type: list
      elements: str
      returned: always
      sample: [beta_tools-1.0-py3-none-any.whl]
    archived:
      description:
        - Those of RV(details.files) that are not on this host (kept on an archive server), sorted.
        - Empty with a Mr Chase older than 0.2, which does not report them.
      type: list
      elements: str
      returned: always
      sample: []
    downloads:
      description: How many download records its files have.
      type: int
      returned: always
      sample: 3
    settling:
      description:
        - Whether a removal of this version is still being settled (Mr Chase lost the database while it
          committed and settles it as soon as the database answers); until then the other fields may not be final.
        - False with a Mr Chase older than 0.2.
      type: bool
      returned: always
      sample: false
  sample:
    "1.0": {skip: "", yanked: false, builds: 1, files: [beta_tools-1.0-py3-none-any.whl], archived: [], downloads: 3,
            settling: false}
site_refresh:
  description:
    - Whether Mr Chase has a piw-master to notify after a change (C(mr_chase_master_queue) of the
      P(piwheels.ops.mr_chase#role) role), so that the project pages and JSON API are rewritten too.
    - False with a Mr Chase older than 0.2, which never notifies piw-master.
  returned: success
  type: bool
  sample: true
stale_pages:
  description:
    - The package's pages (relative to Mr Chase's output path) that a change committed but could not write
      (an immutable file, say); they still list what that change removed until a later write of them succeeds.
    - Empty with a Mr Chase older than 0.4.
  returned: success
  type: list
  elements: str
  sample: [simple/foo/index.html]
msg:
  description: Why the task failed.
  returned: failure
  type: str
  sample: unknown package foo
matched:
  description:
    - The requested versions spelled otherwise than piwheels stores them (V(1.1.0), V(v1.1)), each with the stored
      version Mr Chase matched by PEP 440 equality; RV(details) is keyed by the stored version.
  returned: success
  type: dict
  sample: {"v1.1": "1.1"}
  version_added: 0.4.0
import_queue:
  description: The queue address, when the task failed talking to Mr Chase.
  returned: failure
  type: str
  sample: ipc:///run/mr-chase/queue
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import (
    match_versions,
    package_status_of,
    unknown_version_message,
)
from ansible_collections.piwheels.ops.plugins.module_utils.mr_chase_common import (
    fail_from_error,
    mr_chase_argument_spec,
    mr_chase_client,
    refuse_non_strings,
)

ALL = "all"
# fields of a version STATUS that say nothing about the version itself
_NOT_DETAILS = ("package", "version", "site_refresh", "stale_pages", "archive_locations")
# Booleans as the command line spells them; not Ansible's full list, which has "1" and "0", both real versions.
_TRUE_WORDS = ("true", "yes", "on")
_FALSE_WORDS = ("false", "no", "off")


def argument_spec():
    spec = dict(
        package=dict(type="str", required=True),
        versions=dict(type="raw", default=False),
    )
    spec.update(mr_chase_argument_spec())
    return spec


def requested_versions(module):
    """Return [] for none, None for every version, or the list of versions asked for.

    ``versions`` is raw so that a bool, ``all``, one version and a list all
    work; a boolean written as a string (``versions=yes`` on the command
    line) counts as the boolean, since no version is spelled like one.
    """
    value = module.params["versions"]
    if isinstance(value, str) and value.lower() in _TRUE_WORDS + _FALSE_WORDS:
        value = value.lower() in _TRUE_WORDS
    if value is True or value == ALL:
        return None
    if value is False:
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item for item in values):
        module.fail_json(
            msg=f"versions must be true, false, 'all', a version or a list of versions, got {value!r}; "
            "quote versions in YAML so that they are not read as numbers"
        )
    if ALL in values:
        module.fail_json(msg="versions: 'all' cannot be combined with other versions")
    return list(dict.fromkeys(values))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    refuse_non_strings(module)
    versions = requested_versions(module)
    with mr_chase_client(module) as client:
        try:
            package = package_status_of(client, module.params["package"])
            matching = match_versions(client, package, package["versions"] if versions is None else versions)
            if matching.absent:
                fail_unknown(module, package, matching)
            details = {}
            for version, status in client.statuses(package["package"], matching.stored).items():
                details[version] = {k: v for k, v in status.items() if k not in _NOT_DETAILS}
        except MrChaseError as error:
            fail_from_error(module, error)
    module.exit_json(
        changed=False,
        package=package["package"],
        skip=package["skip"],
        versions=package["versions"],
        details=details,
        site_refresh=package["site_refresh"],
        stale_pages=package["stale_pages"],
        matched=matching.matched,
    )


def fail_unknown(module, package, matching):
    """Fail, saying for each version that matches none what the package has (or when it was forgotten)."""
    module.fail_json(msg="; ".join(
        unknown_version_message(package["package"], asked, match, package["versions"])
        for asked, match in matching.absent.items()))


if __name__ == "__main__":
    main()
