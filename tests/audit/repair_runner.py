"""Run one Service.repair in a process of its own, for the crash tests (no request reaches a repair yet).

    python tests/audit/repair_runner.py CONFIG.yaml FINDINGS.json MIN_AGE

FINDINGS.json is ``{"package": str | null, "findings": [finding, ...]}``.  The
service is built as Mr Chase builds it (its checkpoint hook read from
MR_CHASE_CRASH_AT, so a crash test ends the process at any step of the
repair) and recovers first, as it does at start-up.  Prints the repaired
findings as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ansible_collections/piwheels/ops/roles/mr_chase/files"))

from mr_chase.config import parse_config  # noqa: E402
from mr_chase.findings import Finding  # noqa: E402
from mr_chase.service import Service  # noqa: E402


def main(config: str, findings: str, min_age: str) -> None:
    service = Service(parse_config(yaml.safe_load(Path(config).read_text())))
    service.recover()
    asked = json.loads(Path(findings).read_text())
    repaired = service.repair(asked["package"], [Finding(**finding) for finding in asked["findings"]],
                              float(min_age))
    print(json.dumps([finding.as_dict() for finding in repaired]))
    service.db.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
