"""The testbed's page writer writes upstream's formats: the root index byte for byte, the search index as upstream."""

from __future__ import annotations

import datetime as dt
import json
import random

import psycopg
import pytest
from chase_helpers import ROOT

from piwheels_testbed.scribe import simple_index, write_search_index, write_simple_index

FORMAT = json.loads((ROOT / "tests" / "upstream_format.json").read_text())


@pytest.mark.parametrize("case", FORMAT["simple_index"], ids=lambda case: case["name"])
def test_root_index_is_upstreams_rendering(case):
    packages = list(case["packages"])
    random.Random(14).shuffle(packages)  # upstream's order is a set's; ours is sorted whatever the input order
    assert simple_index(packages, dt.datetime.fromisoformat(case["now"])) == case["expected"]


def test_root_index_from_the_database_lists_every_package_sorted(repository):
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO packages (package) VALUES ('aardvark')")
        write_simple_index(conn, repository.output_path)
    page = (repository.simple / "index.html").read_text()
    body = page.split("<body>\n")[1].split("\n</body>")[0]
    assert body.splitlines() == [f'<a href="{p}">{p}</a>' for p in ("aardvark", "alpha", "beta-tools", "gamma")]


def test_search_index_counts_downloads_per_package_compactly(repository):
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO packages (package) VALUES ('unbuilt')")
        recent = "SELECT filename FROM files WHERE package_tag = 'gamma' LIMIT 1"
        conn.execute(f"INSERT INTO downloads (filename, accessed_by, accessed_at) "
                     f"SELECT ({recent}), '10.9.9.9', now() AT TIME ZONE 'UTC' - INTERVAL '1 day'")
        write_search_index(conn, repository.output_path)
    text = (repository.output_path / "packages.json").read_text()
    assert " " not in text  # separators=(",", ":"), as upstream
    per_package = 3 * 2 * 3  # versions * files * downloads of the small preset
    assert json.loads(text) == [["alpha", 0, per_package], ["beta-tools", 0, per_package],
                                ["gamma", 1, per_package + 1], ["unbuilt", 0, 0]]


def without_stamp(page: str) -> str:
    return page.rsplit("\n<!--", 1)[0]


def test_root_index_after_a_delete_is_what_the_testbed_writer_writes(service, repository):
    """Two independent writers of upstream's format, Mr Chase's and the testbed's, agree on the same database."""
    assert service("DELETE", "gamma") == ["DONE"]
    written = (repository.simple / "index.html").read_text()
    assert without_stamp(written) == without_stamp(simple_index(["alpha", "beta-tools"]))
