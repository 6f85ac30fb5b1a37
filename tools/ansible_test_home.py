"""Prepare a private HOME for ansible-test, so that concurrent runs never share one.

ansible-test keeps its virtual environments under ~/.ansible/test/venv and its
pip bootstrap scripts under ~/.ansible/test/cache; two runs that share a HOME
rebuild or delete each other's environments.  The Makefile runs every
ansible-test under a HOME of its own (one per checkout, one per ansible-core
release for `make matrix`) and calls this script first to fill it:

- the offline get-pip stand-in (tools/get_pip_offline.py) under every
  ``get_pip_<version>.py`` name the given ansible-test may ask for (2.16 and
  2.17 bootstrap pip 23.1.2, 2.18 and 2.19 pip 24.2), unless a real script is
  cached there already;
- the user's own pip configuration (index, mirrors), linked in: ansible-test
  passes HOME to pip but no PIP_* variables, so without it pip inside
  ansible-test would not see the index this machine is set up to use.

Usage: python tools/ansible_test_home.py HOME_DIR ANSIBLE_TEST_PYTHON
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
GET_PIP = TOOLS / "get_pip_offline.py"
# pip's per-user configuration files, relative to HOME
PIP_USER_CONFIG = (Path(".config/pip"), Path(".pip"))


def pip_versions(python: str) -> list[str]:
    """The pip versions the ansible-test installed for ``python`` bootstraps into its environments."""
    source = subprocess.run(
        [python, "-c", "import ansible_test._internal.python_requirements as m; print(m.__file__)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    versions = sorted(set(re.findall(r"\bpip='([0-9][0-9.]*)'", Path(source).read_text())))
    if not versions:
        raise SystemExit(f"no pip version found in {source}: has ansible-test changed how it bootstraps pip?")
    return versions


def install_get_pip(home: Path, versions: list[str]) -> None:
    cache = home / ".ansible/test/cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in versions:
        target = cache / f"get_pip_{version.replace('.', '_')}.py"
        if not target.exists():
            shutil.copyfile(GET_PIP, target)


def link_pip_config(home: Path, real_home: Path) -> None:
    for relative in PIP_USER_CONFIG:
        source, link = real_home / relative, home / relative
        if source.exists() and not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    home, python = Path(argv[0]).resolve(), argv[1]
    real_home = Path(os.path.expanduser("~")).resolve()
    if home == real_home:
        raise SystemExit(f"{home} is the real HOME: give ansible-test a private one")
    home.mkdir(parents=True, exist_ok=True)
    install_get_pip(home, pip_versions(python))
    link_pip_config(home, real_home)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
