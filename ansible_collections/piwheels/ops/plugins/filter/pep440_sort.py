# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``pep440_sort`` filter: versions in the order piw-master's pages, Mr Chase's STATUS and the modules use.

The order is not implemented here: the filter runs on the controller and
imports Mr Chase's own ``versions`` module from the collection, which sorts
with the ``packaging`` library (ansible-core depends on it, so every
controller has it) and puts versions PEP 440 rejects first, as piw-master
does.  One implementation, so the runbooks' plans cannot disagree with the
service.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

try:
    from ansible_collections.piwheels.ops.roles.mr_chase.files.mr_chase.versions import version_key
except ImportError as error:  # packaging missing from the controller's Python
    version_key = None
    IMPORT_ERROR = error
else:
    IMPORT_ERROR = None


def pep440_sort(versions):
    """The versions oldest first, in piw-master's order."""
    if version_key is None:
        raise AnsibleFilterError(f"pep440_sort needs the packaging library on the controller: {IMPORT_ERROR}")
    if not isinstance(versions, list) or not all(isinstance(version, str) for version in versions):
        raise AnsibleFilterError(f"pep440_sort sorts a list of version strings, not {versions!r}")
    return sorted(versions, key=version_key)


class FilterModule:
    """Jinja2 filters of piwheels.ops."""

    def filters(self):
        return {"pep440_sort": pep440_sort}
