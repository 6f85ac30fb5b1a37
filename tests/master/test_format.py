"""Both page writers against upstream's own renderings (tests/upstream_format.json), byte for byte.

The vectors were rendered once by Chameleon from piw-master's templates;
Mr Chase's writer (mr_chase/page.py) and the testbed's independent one
(piwheels_testbed/scribe.py) must each reproduce them exactly, timestamp
comment included, whatever order the rows come in.
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from chase_helpers import ROOT
from mr_chase.page import PageFile, index_pieces, render_page

from piwheels_testbed.scribe import simple_page

FORMAT = json.loads((ROOT / "tests" / "upstream_format.json").read_text())


def shuffled(items: list, seed: int = 14) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


@pytest.mark.parametrize("case", FORMAT["simple_pages"], ids=lambda case: case["name"])
def test_mr_chases_package_page_is_upstreams(case):
    files = [PageFile(f["filename"], f["filehash"], f["requires_python"], f["yanked"], f["version"], f["location"])
             for f in shuffled(case["files"])]
    assert render_page(case["package"], files, dt.datetime.fromisoformat(case["now"])) == case["expected"]


@pytest.mark.parametrize("case", FORMAT["simple_pages"], ids=lambda case: case["name"])
def test_the_testbeds_package_page_is_upstreams(case):
    rows = [(f["version"], f["filename"], f["filehash"], f["requires_python"], f["yanked"], f["location"])
            for f in shuffled(case["files"])]
    assert simple_page(case["package"], rows, dt.datetime.fromisoformat(case["now"])) == case["expected"]


@pytest.mark.parametrize("case", FORMAT["simple_index"], ids=lambda case: case["name"])
def test_mr_chases_root_index_is_upstreams(case):
    """Mr Chase is given the names in the database's order (sorted), as its DELETE reads them."""
    page = "".join(index_pieces(sorted(case["packages"]), dt.datetime.fromisoformat(case["now"])))
    assert page == case["expected"]


def test_a_root_index_longer_than_one_piece_is_one_link_per_line():
    names = [f"pkg{index:06d}" for index in range(10_000)]
    page = "".join(index_pieces(names))
    assert page.split("<body>\n", 1)[1].split("\n</body>", 1)[0].split("\n") == [
        f'<a href="{name}">{name}</a>' for name in names]
