# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``pep440_sort`` filter: versions in PEP 440 order for the runbooks' plans and summaries."""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import pep440_sorted


class FilterModule:
    """Jinja2 filters of piwheels.ops."""

    def filters(self):
        return {"pep440_sort": pep440_sorted}
