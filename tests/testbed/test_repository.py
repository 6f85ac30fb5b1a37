"""The sample repository is real: rows in PostgreSQL, wheels on disk, pages that match."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import zipfile
from html.parser import HTMLParser

import psycopg
from chase_helpers import ROOT, scalar
from psycopg import sql

from piwheels_testbed import SERVICE_ROLE, Cluster, create_database, drop_database, reset_database


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs))


def test_rows_match_the_spec(repository):
    dsn = repository.dsn
    assert scalar(dsn, "SELECT count(*) FROM packages") == 3
    assert scalar(dsn, "SELECT count(*) FROM versions") == 9
    assert scalar(dsn, "SELECT count(*) FROM builds") == 9
    assert scalar(dsn, "SELECT count(*) FROM files") == 18
    assert scalar(dsn, "SELECT count(*) FROM dependencies") == 18
    assert scalar(dsn, "SELECT count(*) FROM downloads") == 54
    assert scalar(dsn, "SELECT version FROM configuration") == "0.23"


def test_every_file_row_has_a_wheel_with_that_hash(repository):
    with psycopg.connect(repository.dsn) as conn:
        rows = conn.execute("SELECT package_tag, filename, filehash, filesize FROM files").fetchall()
    for package, filename, filehash, filesize in rows:
        data = (repository.simple / package / filename).read_bytes()
        assert hashlib.sha256(data).hexdigest() == filehash
        assert len(data) == filesize
        with zipfile.ZipFile(repository.simple / package / filename) as wheel:
            assert wheel.testzip() is None


def test_index_page_lists_every_file_with_its_hash(repository):
    parser = Links()
    parser.feed((repository.simple / "alpha" / "index.html").read_text())
    hrefs = {link["href"].split("#")[0].removeprefix("/simple/alpha/"): link for link in parser.links}
    manifest = repository.manifest
    assert sorted(hrefs) == sorted(f for v in manifest.packages["alpha"] for f in manifest.files("alpha", v))
    yanked = {name for name, link in hrefs.items() if "data-yanked" in link}
    assert yanked == set(repository.manifest.files("alpha", "1.1"))
    assert hrefs["alpha-1.0-py3-none-any.whl"]["data-requires-python"] == ">=3.7,<4"


def test_cascades_delete_files_and_dependencies(repository):
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("DELETE FROM builds WHERE package = 'gamma' AND version = '1.0'")
        files = "SELECT count(*) FROM files WHERE package_tag = 'gamma' AND package_version_tag = '1.0'"
        assert conn.execute(files).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM dependencies WHERE filename LIKE 'gamma-1.0-%'").fetchone()[0] == 0
        # downloads has no foreign key in piwheels 0.23: its rows stay
        assert conn.execute("SELECT count(*) FROM downloads WHERE filename LIKE 'gamma-1.0-%'").fetchone()[0] == 6


def test_down_stops_the_server_and_refuses_a_directory_without_one(tmp_path):
    """`down` used to return 0 and stop nothing when pointed at the wrong directory or with PIW_TEST_DSN set."""
    state = tmp_path / "state"
    run = dict(cwd=ROOT, capture_output=True, text=True, timeout=120)
    env = dict(os.environ, PIW_TEST_DSN="host=/nonexistent user=nobody")
    up = subprocess.run([sys.executable, "-m", "piwheels_testbed", "up", "--state", str(state), "--output",
                         str(tmp_path / "www")], env={k: v for k, v in env.items() if k != "PIW_TEST_DSN"}, **run)
    assert up.returncode == 0, up.stderr
    assert (state / "pgdata" / "postmaster.pid").exists()
    wrong = subprocess.run([sys.executable, "-m", "piwheels_testbed", "down", "--state", str(tmp_path)], **run)
    assert wrong.returncode != 0 and "no testbed under" in wrong.stderr
    down = subprocess.run([sys.executable, "-m", "piwheels_testbed", "down", "--state", str(state)], env=env, **run)
    assert down.returncode == 0 and "stopped PostgreSQL" in down.stdout, down.stderr
    assert not (state / "pgdata" / "postmaster.pid").exists()


def test_a_server_in_a_directory_of_its_own_leaves_nothing_behind(monkeypatch):
    """A Cluster given no directory (the benchmarks') removes the one it made, and its socket directory."""
    monkeypatch.delenv("PIW_TEST_DSN", raising=False)
    cluster = Cluster()
    socket_dir = cluster.socket_dir
    data_dir = socket_dir.with_name(socket_dir.name.removesuffix("-socket"))
    try:
        with psycopg.connect(cluster.admin_dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (data_dir / "PG_VERSION").exists() and socket_dir.is_dir()
    finally:
        cluster.close()
    assert not data_dir.exists() and not socket_dir.exists()


def test_package_names_and_alias_symlinks_as_a_real_master_has_them(repository):
    """Every canonical name is in package_names; an alias gets a project/ symlink (upstream's write_project_page)."""
    with psycopg.connect(repository.dsn) as conn:
        names = conn.execute("SELECT package, name FROM package_names ORDER BY package, name").fetchall()
    assert names == [("alpha", "alpha"), ("beta-tools", "Beta_Tools"), ("beta-tools", "beta-tools"),
                     ("beta-tools", "beta_tools"), ("gamma", "gamma")]
    assert repository.manifest.aliases == {"beta-tools": ("Beta_Tools", "beta_tools")}
    project = repository.output_path / "project"
    links = sorted(p.name for p in project.iterdir() if p.is_symlink())
    assert links == ["Beta_Tools", "beta_tools"]
    for link in links:
        assert (project / link).readlink().as_posix() == "beta-tools"  # relative, as upstream's symlink_to(dir.name)
        assert (project / link / "json" / "index.json").is_file()


def test_root_index_is_in_upstreams_format(repository):
    page = (repository.simple / "index.html").read_text()
    assert page.startswith('<!doctype html>\n<html>\n<head>\n<meta name="api-version" value="2" />\n')
    assert '<a href="alpha">alpha</a>\n<a href="beta-tools">beta-tools</a>\n<a href="gamma">gamma</a>\n' in page


def test_reset_gives_a_kept_database_the_grants_of_the_current_service(pg_cluster):
    """`up` in a checkout whose database an older Mr Chase used: the grants a newer one needs are added."""
    name = f"piw_reset_{secrets.token_hex(4)}"
    dsn = create_database(pg_cluster, name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE DELETE ON packages FROM {}").format(sql.Identifier(SERVICE_ROLE)))
        assert not scalar(dsn, "SELECT has_table_privilege(%s, 'packages', 'DELETE')", SERVICE_ROLE)
        assert reset_database(pg_cluster, name) == dsn
        assert scalar(dsn, "SELECT has_table_privilege(%s, 'packages', 'DELETE')", SERVICE_ROLE)
    finally:
        drop_database(pg_cluster, dsn)
