"""The collection as Galaxy users get it: built, installed, documented, and working."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from collection_build import BIN, COLLECTION, build_tarball


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Build the tarball and install it into an empty collections path."""
    work = tmp_path_factory.mktemp("galaxy")
    tarball = build_tarball(work)
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", tarball, "-p", work / "collections"],
                   check=True, capture_output=True)
    return work


def run(installed: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed / "collections"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True, cwd=installed)


def test_tarball_ships_the_service_and_no_test_output(installed):
    (tarball,) = installed.glob("piwheels-ops-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "roles/mr_chase/files/mr_chase/removal.py" in names
    assert "plugins/modules/piw_remove.py" in names
    assert not [n for n in names if n.startswith("tests/output") or "__pycache__" in n]


def test_tarball_ships_the_changelog_of_its_version(installed):
    """CHANGELOG.rst is in the tarball and its newest release is galaxy.yml's version (0.3.0 shipped one that stopped
    at v0.2.0): a version bumped without `make changelog` fails here."""
    version = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"]
    (tarball,) = installed.glob("piwheels-ops-*.tar.gz")
    with tarfile.open(tarball) as archive:
        changelog = archive.extractfile("CHANGELOG.rst").read().decode()
    headings = [line for line in changelog.splitlines() if line.startswith("v") and line[1:2].isdigit()]
    assert headings[:1] == [f"v{version}"], headings
    releases = yaml.safe_load((COLLECTION / "changelogs/changelog.yaml").read_text())["releases"]
    assert version in releases, sorted(releases)


def test_0_3_0_release_notes_name_the_new_grants():
    """The breaking change of 0.3.0 (a deployment stops at start-up until given the new GRANTs) is in its release
    notes, and the README says how to upgrade."""
    releases = yaml.safe_load((COLLECTION / "changelogs/changelog.yaml").read_text())["releases"]
    breaking = " ".join(releases["0.3.0"]["changes"]["breaking_changes"])
    assert "DELETE on ``packages`` and ``versions``" in breaking and "``package_names``" in breaking
    assert "exit status 3" in breaking
    readme = (COLLECTION / "README.md").read_text()
    assert "## Upgrading from 0.2" in readme
    assert "GRANT SELECT ON TABLE public.package_names TO mr_chase;" in readme


def test_fragments_waiting_for_the_next_release_are_in_no_release():
    """Only 0.3's fragments went into 0.3.0: the later work's (issue 21, 25, ...) stay in changelogs/fragments,
    unreleased, for the next release."""
    releases = yaml.safe_load((COLLECTION / "changelogs/changelog.yaml").read_text())["releases"]
    released = {fragment for release in releases.values() for fragment in release.get("fragments", [])}
    waiting = {path.name for path in (COLLECTION / "changelogs/fragments").glob("*.yml")}
    assert waiting and not waiting & released, sorted(waiting & released)
    assert sorted(releases["0.3.0"]["fragments"]) == [
        "0.3.0-release.yml", "issue14-modules.yml", "issue14-service.yml", "issue14-testbed.yml"]


def test_galaxy_authors_is_a_contact_not_a_placeholder():
    """Galaxy shows `authors` as whom to contact: a name and an e-mail address (0.3.0: "piwheels.ops maintainers")."""
    authors = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["authors"]
    assert authors and all(re.fullmatch(r"[^<>@]+ <[^<>@\s]+@[^<>@\s]+\.[a-z]+>", a) for a in authors), authors


def test_ansible_builder_introspect_lists_what_the_modules_need(installed):
    """An execution environment built from the installed collection gets pyzmq, the modules' client library
    (0.3.0 declared nothing: introspection listed no dependency)."""
    result = run(installed, BIN / "ansible-builder", "introspect", installed / "collections")
    assert result.returncode == 0, result.stdout + result.stderr
    found = yaml.safe_load(result.stdout)
    python = [line.split("#")[0].strip() for line in found["python"] if "from collection piwheels.ops" in line]
    assert [req for req in python if re.match(r"pyzmq\b", req)], found


def test_ansible_doc_renders_both_modules(installed):
    for module in ("piwheels.ops.piw_remove", "piwheels.ops.piw_package_info"):
        result = run(installed, BIN / "ansible-doc", module)
        assert result.returncode == 0, result.stderr
        assert "import_queue" in result.stdout
    role = run(installed, BIN / "ansible-doc", "-t", "role", "piwheels.ops.mr_chase")
    assert role.returncode == 0, role.stderr
    assert "mr_chase_dsn" in role.stdout


def test_installed_module_talks_to_a_real_mr_chase(installed, mr_chase):
    args = json.dumps({"package": "Alpha", "import_queue": mr_chase.config["import_queue"]})
    result = run(installed, BIN / "ansible", "localhost", "-c", "local", "-m", "piwheels.ops.piw_package_info",
                 "-a", args, "-e", f"ansible_python_interpreter={sys.executable}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"versions": [' in result.stdout and '"1.0"' in result.stdout
    assert '"changed": false' in result.stdout
