# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_archive on a real directory tree: what it removes, what it refuses, and the listing it writes."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.piwheels.ops.plugins.modules import piw_archive

ARMV7 = "foo-1.0-cp311-cp311-linux_armv7l.whl"
ARMV6 = "foo-1.0-cp311-cp311-linux_armv6l.whl"
OTHER = "foo-1.1-py3-none-any.whl"


@pytest.fixture
def root(tmp_path):
    """An archive root: simple/foo with two wheels, the armv6l one a link to the armv7l one, as upstream has."""
    package = tmp_path / "archive" / "simple" / "foo"
    package.mkdir(parents=True)
    (package / ARMV7).write_bytes(b"wheel")
    (package / OTHER).write_bytes(b"other")
    os.symlink(ARMV7, package / ARMV6)
    return tmp_path / "archive"


@pytest.fixture
def archive(run_module):
    def run(check_mode=False, diff=False, **args):
        return run_module(piw_archive, args, check_mode=check_mode, diff=diff)

    return run


def wheel(filename, package="foo"):
    return {"package": package, "filename": filename}


def tree(root):
    """Every path under root, relative, sorted (links too)."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_check_real_check_real_changes_changed_changed_ok_ok(archive, root):
    files = [wheel(ARMV7), wheel("foo-0.9-py3-none-any.whl")]
    results = [archive(root=str(root), files=files, check_mode=check) for check in (True, False, True, False)]
    assert [result["changed"] for result in results] == [True, True, False, False]
    assert results[0]["removed"] == results[1]["removed"] == [wheel(ARMV7)]
    assert results[0]["already_absent"] == [wheel("foo-0.9-py3-none-any.whl")]
    assert results[2]["removed"] == results[3]["removed"] == []
    assert results[3]["already_absent"] == files
    assert not (root / "simple" / "foo" / ARMV7).exists()


def test_check_mode_removes_nothing_and_the_diff_says_what_would_go(archive, root):
    before = tree(root)
    result = archive(root=str(root), files=[wheel(ARMV7), wheel(OTHER)], check_mode=True, diff=True)
    assert result["diff"]["before"] == f"foo/{ARMV7}\nfoo/{OTHER}\n"
    assert result["diff"]["after"] == ""
    assert result["msg"].startswith("would remove 2 of 2 wheels")
    assert tree(root) == before


def test_a_link_to_a_wheel_of_the_same_directory_is_removed_not_its_target(archive, root):
    result = archive(root=str(root), files=[wheel(ARMV6)])
    assert result["removed"] == [wheel(ARMV6)]
    assert not os.path.lexists(root / "simple" / "foo" / ARMV6)
    assert (root / "simple" / "foo" / ARMV7).read_bytes() == b"wheel"


def test_no_staging_directory_is_left_behind(archive, root):
    archive(root=str(root), files=[wheel(ARMV7), wheel(OTHER)])
    assert os.listdir(root / piw_archive.STAGING) == []
    assert os.listdir(root / "simple" / "foo") == [ARMV6]


def test_a_staging_directory_an_interrupted_run_left_is_emptied(archive, root):
    leftover = root / piw_archive.STAGING / "0123456789abcdef"
    leftover.mkdir(parents=True)
    (leftover / "0.whl").write_bytes(b"removed before the crash")
    archive(root=str(root), files=[wheel(OTHER)])
    assert os.listdir(root / piw_archive.STAGING) == []


@pytest.mark.parametrize("entry, words", [
    (wheel("../../../etc/passwd.whl"), "holds a slash"),
    (wheel(ARMV7, package=".."), "names a directory"),
    (wheel("..", package="foo"), "names a directory"),
    (wheel(ARMV7, package="foo/../../.."), "holds a slash"),
    (wheel("/etc/shadow.whl"), "holds a slash"),
    (wheel(ARMV7, package=""), "an empty package"),
    (wheel(""), "an empty filename"),
    (wheel("foo\x00.whl"), "NUL"),
    (wheel("index.html"), "not a wheel"),
])
def test_a_name_that_could_leave_the_root_is_refused_and_nothing_goes(archive, root, entry, words):
    before = tree(root)
    result = archive(root=str(root), files=[wheel(OTHER), entry])
    assert result["failed"] and not result["changed"]
    assert words in result["msg"] and "nothing was removed" in result["msg"]
    assert tree(root) == before


def test_a_link_out_of_the_root_is_refused(archive, root, tmp_path):
    outside = tmp_path / "secret.whl"
    outside.write_bytes(b"not the archive's")
    os.symlink(outside, root / "simple" / "foo" / "evil.whl")
    os.symlink("../../../secret.whl", root / "simple" / "foo" / "relative-evil.whl")
    for name in ("evil.whl", "relative-evil.whl"):
        result = archive(root=str(root), files=[wheel(OTHER), wheel(name)])
        assert result["failed"] and "outside the root" in result["msg"]
    assert outside.read_bytes() == b"not the archive's"
    assert (root / "simple" / "foo" / OTHER).exists()


def test_a_symlinked_package_directory_is_refused(archive, root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ARMV7).write_bytes(b"not the archive's")
    os.symlink(elsewhere, root / "simple" / "bar")
    result = archive(root=str(root), files=[wheel(ARMV7, package="bar")])
    assert result["failed"] and "simple/bar" in result["msg"] and "symbolic link" in result["msg"]
    assert (elsewhere / ARMV7).exists()


def test_a_symlinked_simple_directory_is_refused(archive, tmp_path, root):
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(root / "simple", other / "simple")
    result = archive(root=str(other), files=[wheel(OTHER)])
    assert result["failed"] and "symbolic link" in result["msg"]
    assert (root / "simple" / "foo" / OTHER).exists()


@pytest.mark.parametrize("given, words", [
    ("relative/archive", "absolute path"),
    ("/nonexistent/archive", "is not a directory"),
])
def test_a_bad_root_is_refused(archive, given, words):
    result = archive(root=given, files=[wheel(OTHER)])
    assert result["failed"] and words in result["msg"]


def test_a_root_without_simple_says_so(archive, tmp_path):
    result = archive(root=str(tmp_path), files=[wheel(OTHER)])
    assert result["failed"] and "has no directory simple" in result["msg"]


def test_a_staging_directory_that_cannot_be_made_fails_and_names_the_user_to_become(archive, root):
    """As a root not writable by the task's user would (this also fails for root, who may write anywhere)."""
    (root / piw_archive.STAGING).write_text("a file where the staging directory goes")
    result = archive(root=str(root), files=[wheel(OTHER)])
    assert result["failed"] and not result["changed"]
    assert "piw_archive_become_user" in result["msg"]
    assert (root / "simple" / "foo" / OTHER).exists()


def test_listed_writes_every_wheel_once_per_line_and_reports_count_and_sha256(archive, root, tmp_path):
    (root / "simple" / "bar").mkdir()
    (root / "simple" / "bar" / "bar-2.0-py3-none-any.whl").write_bytes(b"bar")
    (root / "simple" / "index.html").write_text("root index")
    listing = tmp_path / "listing.txt"
    result = archive(root=str(root), state="listed", listing=str(listing))
    content = listing.read_bytes()
    assert sorted(content.decode().splitlines()) == sorted(
        [f"foo/{ARMV7}", f"foo/{ARMV6}", f"foo/{OTHER}", "bar/bar-2.0-py3-none-any.whl"])
    assert result["count"] == 4 and result["changed"]
    assert result["sha256"] == hashlib.sha256(content).hexdigest()
    assert result["listing"] == str(listing) and "names" not in result
    assert archive(root=str(root), state="listed", listing=str(listing))["changed"] is False


def test_listed_in_check_mode_hashes_but_writes_nothing(archive, root, tmp_path):
    listing = tmp_path / "listing.txt"
    checked = archive(root=str(root), state="listed", listing=str(listing), check_mode=True)
    assert checked["changed"] and checked["count"] == 3 and not listing.exists()
    assert os.listdir(tmp_path) == ["archive"]
    assert archive(root=str(root), state="listed", listing=str(listing))["sha256"] == checked["sha256"]


def test_listed_leaves_out_a_name_with_a_line_break_and_warns(archive, root, tmp_path):
    (root / "simple" / "foo" / "two\nlines.whl").write_bytes(b"odd")
    result = archive(root=str(root), state="listed", listing=str(tmp_path / "listing.txt"))
    assert result["count"] == 3 and result["unlisted"] == 1
    assert "hold a line break" in result["warnings"][0]


def test_listed_lists_a_non_utf8_name_as_the_file_system_has_it(archive, root, tmp_path):
    (root / "simple" / "foo").joinpath(os.fsdecode(b"caf\xe9.whl")).write_bytes(b"latin-1")
    archive(root=str(root), state="listed", listing=str(tmp_path / "listing.txt"))
    assert b"foo/caf\xe9.whl\n" in (tmp_path / "listing.txt").read_bytes()


@pytest.mark.parametrize("listing, words", [
    (None, "missing: listing"),
    ("relative.txt", "absolute path"),
    ("/nonexistent/dir/listing.txt", "does not exist"),
])
def test_listed_refuses_a_bad_listing_path(archive, root, listing, words):
    args = {"root": str(root), "state": "listed"}
    if listing:
        args["listing"] = listing
    result = archive(**args)
    assert result["failed"] and words in result["msg"]


def test_listed_refuses_a_listing_the_archive_would_serve(archive, root):
    result = archive(root=str(root), state="listed", listing=str(root / "simple" / "foo" / "listing.txt"))
    assert result["failed"] and "which the archive serves" in result["msg"]
