"""The collection's tarball, built by `ansible-galaxy collection build` from a copy that cannot move under it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections/piwheels/ops"
BIN = Path(sys.executable).parent
#: what other suites change in the collection while `make test` runs this one: ansible-lint's cache (the lint
#: suite creates and deletes it) and ansible-test's output
MOVING = {Path("."): {".ansible"}, Path("tests"): {"output"}}


def build_tarball(work: Path) -> Path:
    """Build the tarball from a copy of the collection without its moving parts, plus a file of test output
    (so that build_ignore, not the copy, is what keeps test output out of the tarball)."""
    source = work / "source/ansible_collections/piwheels/ops"
    shutil.copytree(COLLECTION, source, symlinks=True, ignore=_moving_parts)
    (source / "tests/output").mkdir()
    (source / "tests/output/left-by-a-test-run.txt").write_text("test output\n")
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", "--output-path", work, source],
                   check=True, capture_output=True)
    (tarball,) = work.glob("piwheels-ops-*.tar.gz")
    return tarball


def _moving_parts(directory: str, names: list[str]) -> set[str]:
    return MOVING.get(Path(directory).relative_to(COLLECTION), set()) & set(names)
