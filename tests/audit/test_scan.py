"""The scanner against a real testbed site (real PostgreSQL, real files): each kind of damage made as it happens
for real, found as exactly the finding it is and nothing else; min_age; imports committed during the scan; links
out of the tree.  The scan runs in-process here, as the service's role; test_job.py runs it through Mr Chase."""

from __future__ import annotations

import json
import os
import re

import pytest
from audit_helpers import age, age_site, execute, rewrite_pages, scan, shown, wheel
from mr_chase.package_check import page_links
from mr_chase.site_scan import BATCH, WALK

from piwheels_testbed import RepositorySpec
from piwheels_testbed.scribe import simple_index


def test_a_clean_site_has_no_finding(repository):
    assert scan(repository, verify_hashes=True) == []


def test_a_clean_site_of_more_than_one_batch_has_no_finding(empty_database, tmp_path):
    from piwheels_testbed import build_repository
    from piwheels_testbed.repository import Manifest  # noqa: F401 (the fixture's type)

    spec = RepositorySpec(packages=BATCH + 7, versions=1, files=1, downloads=0, aliases={})
    output = tmp_path / "www"
    manifest = build_repository(empty_database, output, spec)

    class Site:
        dsn, output_path = empty_database, output

        @property
        def service_dsn(self):
            from piwheels_testbed import SERVICE_ROLE, role_dsn
            return role_dsn(empty_database, SERVICE_ROLE)

    assert len(manifest.packages) == BATCH + 7
    assert scan(Site()) == []


def test_upstream_piw_remove_leaves_orphan_wheels(repository):
    """Upstream's plain piw-remove deletes the rows, then its page writer (which looks the files up in the rows
    it just deleted) leaves every wheel on disk: one orphan_wheel each, and nothing else."""
    execute(repository, "DELETE FROM versions WHERE package = 'gamma' AND version = '1.1'")
    rewrite_pages(repository, "gamma")
    assert shown(scan(repository)) == [
        ("orphan_wheel", "gamma", f"simple/gamma/{name}", "a wheel the database has no files row for")
        for name in repository.manifest.files("gamma", "1.1")]


def test_a_wheel_gone_from_disk_is_missing(repository):
    name = wheel(repository, "alpha", "1.2")
    (repository.simple / "alpha" / name).unlink()
    assert shown(scan(repository)) == [
        ("missing_wheel", "alpha", f"simple/alpha/{name}", "the database lists it (version 1.2); not on disk")]


def test_a_corrupt_wheel_is_a_hash_mismatch_only_when_hashes_are_verified(repository):
    name = wheel(repository, "gamma", "1.0")
    path = repository.simple / "gamma" / name
    path.write_bytes(b"not the wheel")
    expected = repository.manifest.packages["gamma"]["1.0"][0].filehash
    import hashlib
    assert scan(repository) == []
    assert shown(scan(repository, verify_hashes=True)) == [
        ("hash_mismatch", "gamma", f"simple/gamma/{name}",
         f"sha256 {hashlib.sha256(b'not the wheel').hexdigest()} on disk, {expected} in the database")]


def test_a_files_row_deleted_while_its_wheel_and_link_stay(repository):
    """The damage upstream's piw-audit-packages misses: the row goes, the wheel and its links stay."""
    name = wheel(repository, "gamma", "1.2")
    execute(repository, "DELETE FROM files WHERE filename = %s", name)
    gone = f"lists 1 file(s) the database no longer has: {name}"
    assert shown(scan(repository)) == sorted([
        ("orphan_wheel", "gamma", f"simple/gamma/{name}", "a wheel the database has no files row for"),
        ("stale_page", "gamma", "simple/gamma/index.html", f"links 1 file(s) the database does not have: {name}"),
        ("stale_project_page", "gamma", "project/gamma/index.html", gone),
        ("stale_project_page", "gamma", "project/gamma/json/index.json", gone)])


def test_a_page_whose_yanked_flag_or_hash_is_wrong_is_stale(repository):
    execute(repository, "UPDATE versions SET yanked = true WHERE package = 'gamma' AND version = '1.0'")
    name = wheel(repository, "gamma", "1.2", 1)
    execute(repository, "UPDATE files SET filehash = %s WHERE filename = %s", "0" * 64, name)
    first, second = repository.manifest.files("gamma", "1.0")
    real_hash = repository.manifest.packages["gamma"]["1.2"][1].filehash
    assert shown(scan(repository)) == [("stale_page", "gamma", "simple/gamma/index.html", "; ".join([
        f"{first}: yanked False on the page, True in the database",
        f"{second}: yanked False on the page, True in the database",
        f"{name}: sha256 '{real_hash}' on the page, '{'0' * 64}' in the database"]))]


def test_a_page_in_the_masters_format_with_other_whitespace_is_not_stale(repository):
    page = repository.simple / "alpha" / "index.html"
    page.write_text(page.read_text().replace("<br>\n", "<br>\n\n  ").replace("<!--", "\n<!--"))
    assert scan(repository) == []


def test_a_missing_page(repository):
    (repository.simple / "beta-tools" / "index.html").unlink()
    assert shown(scan(repository)) == [("missing_page", "beta-tools", "simple/beta-tools/index.html",
                                        "the database lists 6 file(s) of beta-tools; the page is missing, so pip "
                                        "finds none of them")]


def test_directories_of_no_package_are_one_finding_each(repository):
    for top in ("simple", "project"):
        ghost = repository.output_path / top / "ghost"
        (ghost / "deep").mkdir(parents=True)
        (ghost / "ghost-1.0-py3-none-any.whl").write_bytes(b"x")
        (ghost / "deep" / "index.html").write_text("x")
    (repository.output_path / "project" / "Stray.Link").symlink_to("alpha")
    assert shown(scan(repository)) == [
        ("orphan_directory", "Stray.Link", "project/Stray.Link",
         "a link under project/ that is no package and no alias of the database"),
        ("orphan_directory", "ghost", "project/ghost",
         "a directory under project/ that is no package and no alias of the database"),
        ("orphan_directory", "ghost", "simple/ghost",
         "a directory under simple/ that is no package and no alias of the database")]


def test_alias_links_broken_or_missing(repository):
    project = repository.output_path / "project"
    (project / "Beta_Tools").unlink()
    (project / "Beta_Tools").symlink_to("gamma")
    (project / "beta_tools").unlink()
    assert shown(scan(repository)) == [
        ("broken_alias", "beta-tools", "project/Beta_Tools", "links to gamma; it should link to beta-tools"),
        ("missing_alias", "beta-tools", "project/beta_tools",
         "package_names has beta_tools for beta-tools; project/beta_tools should link to beta-tools")]


def test_a_root_index_that_lists_other_packages(repository):
    (repository.simple / "index.html").write_text(simple_index(["alpha", "beta-tools", "zeta"]))
    assert shown(scan(repository)) == [
        ("stale_root_index", None, "simple/index.html",
         "lists 1 the database does not have: zeta; lacks 1 package(s): gamma")]


def test_a_project_page_listing_a_version_the_database_no_longer_has(repository):
    """FORGET through upstream's tools: the rows go, the project page and JSON keep the version until rewritten."""
    project = repository.output_path / "project" / "alpha"
    before = {path: path.read_text() for path in (project / "index.html", project / "json" / "index.json")}
    execute(repository, "DELETE FROM versions WHERE package = 'alpha' AND version = '1.2'")
    names = repository.manifest.files("alpha", "1.2")
    rewrite_pages(repository, "alpha")  # the simple page is right again...
    for path, text in before.items():  # ...but the project page and JSON are the old ones
        path.write_text(text)
    for name in names:
        (repository.simple / "alpha" / name).unlink()
    detail = f"lists 1 version(s) the database no longer has: 1.2; lists 2 file(s) the database no longer has: " \
             f"{', '.join(names)}"
    assert shown(scan(repository)) == [("stale_project_page", "alpha", "project/alpha/index.html", detail),
                                       ("stale_project_page", "alpha", "project/alpha/json/index.json", detail)]


def test_anything_else_in_a_package_directory_is_foreign(repository):
    (repository.simple / "alpha" / "README.txt").write_text("hello")
    (repository.simple / "alpha" / "sub").mkdir()
    assert shown(scan(repository)) == [
        ("foreign_file", "alpha", "simple/alpha/README.txt",
         "file that is neither a wheel nor the page (repaired only when foreign_file is named)"),
        ("foreign_file", "alpha", "simple/alpha/sub",
         "directory that is neither a wheel nor the page (repaired only when foreign_file is named)")]


def test_staging_and_set_aside_entries_no_journal_names(repository):
    state = repository.output_path / ".mr-chase"
    staged = state / "staging" / ("a" * 32)
    staged.mkdir(parents=True)
    (staged / "alpha-1.0-py3-none-any.whl").write_bytes(b"x")
    (state / "set-aside").mkdir()
    (state / "set-aside" / "20260101T000000-journal.json").write_text("{}")
    pending = state / "staging" / ("b" * 32)
    pending.mkdir()
    (state / "journal.json").write_text(json.dumps({"package": "alpha", "version": "1.0", "token": "b" * 32}) + "\n")
    assert shown(scan(repository)) == [
        ("leftover_staging", None, ".mr-chase/set-aside/20260101T000000-journal.json",
         "set aside by Mr Chase (its log says why); no pending journal names it"),
        ("leftover_staging", None, f".mr-chase/staging/{'a' * 32}", "staged by a change no pending journal names")]


def test_packages_restrict_every_kind_and_leave_out_the_site_wide_ones(repository):
    (repository.simple / "alpha" / wheel(repository, "alpha", "1.0")).unlink()
    (repository.simple / "gamma" / "index.html").unlink()
    (repository.simple / "ghost").mkdir()
    (repository.simple / "index.html").write_text(simple_index(["alpha"]))
    found = shown(scan(repository, packages=["Alpha"]))
    assert [(kind, package) for kind, package, _path, _detail in found] == [("missing_wheel", "alpha")]


def test_min_age_spares_what_is_young_on_disk_and_in_the_database(repository):
    """Fresh files, links, directories and pages are no orphan and no stale page; a young build's row is no
    missing wheel (an import in flight); once old, each is found."""
    orphan = repository.simple / "alpha" / "alpha-0.9-py3-none-any.whl"
    orphan.write_bytes(b"x")
    (repository.simple / "ghost").mkdir()
    missing = wheel(repository, "gamma", "1.0")
    (repository.simple / "gamma" / missing).unlink()
    execute(repository, "UPDATE versions SET yanked = true WHERE package = 'beta-tools' AND version = '1.0'")
    assert scan(repository, min_age=3600) == []
    age_site(repository)
    assert [(f.kind, f.path) for f in scan(repository, min_age=3600)] == [
        ("orphan_wheel", "simple/alpha/alpha-0.9-py3-none-any.whl"),
        ("stale_page", "simple/beta-tools/index.html"),
        ("missing_wheel", f"simple/gamma/{missing}"),
        ("orphan_directory", "simple/ghost")]
    age(orphan, 60)  # modified a minute ago: young again
    assert "orphan_wheel" not in [f.kind for f in scan(repository, min_age=3600)]


def test_an_import_committed_during_the_scan_is_not_reported(repository):
    """Between the batch's snapshot and its look at the disk, piw-master imports a build: rows committed, wheel
    written, page rewritten.  The snapshot lacks it; the finding is confirmed on a fresh one, so nothing is
    reported."""
    imported = "gamma-1.3-py3-none-any.whl"

    def import_build(step):
        assert step == WALK
        if (repository.simple / "gamma" / imported).exists():
            return
        (repository.simple / "gamma" / imported).write_bytes(b"a new build")
        import hashlib
        execute(repository, "INSERT INTO versions (package, version, released) VALUES ('gamma', '1.3', now())")
        execute(repository, "INSERT INTO builds (package, version, built_by, duration, status, abi_tag) "
                "VALUES ('gamma', '1.3', 1, '1 minute', true, 'none')")
        execute(repository, "INSERT INTO files (filename, build_id, filesize, filehash, package_tag, "
                "package_version_tag, py_version_tag, abi_tag, platform_tag) SELECT %s, max(build_id), 11, %s, "
                "'gamma', '1.3', 'py3', 'none', 'any' FROM builds", imported,
                hashlib.sha256(b"a new build").hexdigest())
        rewrite_pages(repository, "gamma")

    assert scan(repository, checkpoint=import_build) == []
    assert imported in page_links((repository.simple / "gamma" / "index.html").read_text())


def test_a_wheel_linked_to_a_wheel_of_its_own_directory_is_served_and_hashed_through_the_link(repository):
    """piwheels links armv6l wheels to the armv7l ones beside them (same hash): such a link, or a link to such a
    link, is a wheel on disk, hashed through the link; a link to a directory beside it serves no file."""
    served, linked = repository.manifest.files("alpha", "1.0")
    to_link, to_directory = repository.manifest.files("alpha", "1.1")
    directory = repository.simple / "alpha"
    execute(repository, "UPDATE files SET filehash = (SELECT filehash FROM files WHERE filename = %s) "
            "WHERE filename = ANY(%s)", served, [linked, to_link])
    (directory / "subdirectory").mkdir()
    for name, target in ((linked, served), (to_link, linked), (to_directory, "subdirectory")):
        (directory / name).unlink()
        (directory / name).symlink_to(target)
    rewrite_pages(repository, "alpha")
    lacking = "on disk, but not a file in the tree (a link that dangles or leaves simple/, or a directory)"
    assert shown(scan(repository, verify_hashes=True)) == sorted([
        ("foreign_file", "alpha", "simple/alpha/subdirectory",
         "directory that is neither a wheel nor the page (repaired only when foreign_file is named)"),
        ("missing_wheel", "alpha", f"simple/alpha/{to_directory}",
         f"the database lists it (version 1.1); {lacking}")])


def test_links_out_of_the_tree_are_never_followed(repository, tmp_path):
    outside = tmp_path / "outside"
    (outside / "pkg").mkdir(parents=True)
    (outside / "pkg" / "secret-1.0-py3-none-any.whl").write_bytes(b"secret")
    (outside / "index.json").write_text(json.dumps({"releases": {"6.6": {"files": {"secret.whl": {}}}}}))
    name = wheel(repository, "alpha", "1.0")
    (repository.simple / "alpha" / name).unlink()
    (repository.simple / "alpha" / name).symlink_to(outside / "pkg" / "secret-1.0-py3-none-any.whl")
    (repository.simple / "outside").symlink_to(outside / "pkg")
    json_dir = repository.output_path / "project" / "gamma" / "json"
    (json_dir / "index.json").unlink()
    (json_dir / "index.json").symlink_to(outside / "index.json")
    os.chmod(outside / "pkg" / "secret-1.0-py3-none-any.whl", 0)  # reading it would fail the scan
    found = shown(scan(repository, verify_hashes=True))
    assert found == [
        ("missing_wheel", "alpha", f"simple/alpha/{name}", "the database lists it (version 1.0); on disk, but not "
         "a file in the tree (a link that dangles or leaves simple/, or a directory)"),
        ("orphan_directory", "outside", "simple/outside",
         "a link under simple/ that is no package and no alias of the database")]


@pytest.mark.parametrize("whitespace", ["\n", "\n\n  "])
def test_page_links_read_the_masters_format(whitespace):
    text = (f'<a href="/simple/a/a-1.0-py3-none-any.whl#sha256=ab" data-yanked="" '
            f'data-requires-python="&gt;=3.7">a-1.0-py3-none-any.whl</a><br>{whitespace}')
    assert page_links(text) == {"a-1.0-py3-none-any.whl": [("/simple/a/a-1.0-py3-none-any.whl", "ab", ">=3.7", True)]}


def test_the_cheap_comparison_takes_the_pages_both_writers_write(repository):
    """A page is current without parsing when its lines are those page.py writes: true of Mr Chase's pages and of
    the testbed's stand-in piw-master's (both upstream's format), so the common case is the cheap one."""
    from mr_chase.package_check import _same_lines
    from mr_chase.page import PageFile, link_line, render_page

    from piwheels_testbed.scribe import simple_page

    files = [PageFile(f.filename, f.filehash, f.requires_python, ("alpha", version) in repository.manifest.yanked,
                      version, "/simple")
             for version, listed in repository.manifest.packages["alpha"].items() for f in listed]
    assert _same_lines(render_page("alpha", files), "alpha", files)
    assert _same_lines((repository.simple / "alpha" / "index.html").read_text(), "alpha", files)
    testbed = simple_page("alpha", [(f.version, f.filename, f.filehash, f.requires_python, f.yanked, "/simple")
                                    for f in files])
    assert _same_lines(testbed, "alpha", files)
    assert not _same_lines(testbed.replace('data-yanked=""', ""), "alpha", files)
    first, second = link_line("alpha", files[0]), link_line("alpha", files[1])
    listed_twice_and_one_lacking = testbed.replace(first, f"{first}\n{first}").replace(second, "")
    assert not _same_lines(listed_twice_and_one_lacking, "alpha", files)


#: the project page's file links as one regex reads them (what _linked_files finds by string search)
PROJECT_FILE_LINK = re.compile(r'href="[^"#]*/([^"#/]*)#sha256=')


@pytest.mark.parametrize("text", [
    '<a href="https://www.piwheels.org/simple/a/a-1.0-py3-none-any.whl#sha256=ab">a</a>',
    '<td><a href="/simple/a/a-1.0.whl#sha256=ab">a</a></td><td><a href="/simple/a/a-1.1.whl#sha256=cd">b</a></td>',
    'text #sha256= with no link, then <a href="/simple/a/a-2.whl#sha256=ef">a</a>',
    '<a href="no-slash.whl#sha256=ab">a</a> <a href="/x/y" title="a/b.whl#sha256=cd">',
    '<a href="/simple/a/a#1.whl#sha256=ab">a</a> <a href="/simple/a/#sha256=ab">empty name</a>',
    '<a href="/simple/a/a-1.0.whl">no hash</a> "/simple/a/quoted.whl#sha256=ab"',
    '<a href="/simple/a/caf&amp;e.whl#sha256=ab">escaped</a>',
])
def test_a_project_pages_file_links_are_found_as_a_regex_finds_them(text):
    from mr_chase.package_check import _linked_files

    assert _linked_files(text) == set(PROJECT_FILE_LINK.findall(text))
