"""Issue 8 (item 4): the index page rewrite for a package with 2,000 files against a plain write of the same bytes.

``mr_chase``: what a removal does for the page once it has the package's
rows: ``page.page_pieces`` (escaping, sha256, data-requires-python and
data-yanked attributes), ``Tree.write_temp_page`` next to the page and
``os.replace`` into place (so a client never reads half a page).  The
page's fsync is excluded on both sides: Mr Chase runs it while the database
commits.  ``plain``: ``open(page, "wb").write(same bytes)``.  Interleaved,
medians; target mr_chase / plain <= 3.

    .venv/bin/python benchmarks/bench_index.py [--quick] [--files 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, bar_plot, median_ms, print_table, write_csv  # noqa: E402
from mr_chase.page import PageFile, page_pieces, render_page  # noqa: E402
from mr_chase.tree import Tree  # noqa: E402

PACKAGE = "bigpkg"


def rows(files: int) -> list[PageFile]:
    """The package's files as the database returns them (in no particular order)."""
    out = []
    for i in range(files):
        version = f"{i // 20}.{i % 20}.0"
        filename = f"{PACKAGE}-{version}-cp3{i % 12}-cp3{i % 12}-linux_armv7l.whl"
        out.append(PageFile(filename, hashlib.sha256(filename.encode()).hexdigest(), ">=3.7" if i % 3 else None,
                            i % 50 == 0, version, "/simple"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--csv", type=Path, default=RESULTS / "bench_index.csv")
    args = parser.parse_args()
    rounds = args.rounds or (20 if args.quick else 300)
    workdir = Path(tempfile.mkdtemp(prefix="mci-"))
    try:
        tree = Tree(workdir)
        os.makedirs(tree.package_dir(PACKAGE))
        page_rows = rows(args.files)
        data = render_page(PACKAGE, page_rows).encode("utf-8")
        plain_path = Path(workdir) / "plain.html"
        times: dict[str, list[float]] = {"mr_chase": [], "plain": []}
        for r in range(rounds + 5):
            order = ["mr_chase", "plain"] if r % 2 == 0 else ["plain", "mr_chase"]
            for method in order:
                started = time.perf_counter()
                if method == "plain":
                    with open(plain_path, "wb") as stream:
                        stream.write(data)
                else:
                    token = f"{r:08x}"
                    temp = tree.write_temp_page(PACKAGE, token, page_pieces(PACKAGE, page_rows))
                    os.replace(temp, tree.page(PACKAGE))
                if r >= 5:
                    times[method].append(time.perf_counter() - started)
        # the same page but for its timestamp comment (each write stamps its own time, to the microsecond)
        written, plain = (p.read_bytes().rsplit(b"\n<!--", 1)[0] for p in (Path(tree.page(PACKAGE)), plain_path))
        assert written == plain
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    chase, plain = median_ms(times["mr_chase"]), median_ms(times["plain"])
    row = {"files": args.files, "page_bytes": len(data), "rounds": rounds, "mr_chase_ms": chase, "plain_ms": plain,
           "ratio": round(chase / plain, 3)}
    print_table([row], list(row))
    print(f"(medians of {rounds} interleaved rounds; target ratio <= 3)")
    write_csv(args.csv, [row])
    bar_plot(args.csv.with_suffix(".png"), [f"{args.files:,} files"],
             {"Mr Chase rewrite (ms)": [chase], "plain write (ms)": [plain]}, "ms", "Index page rewrite")
    return 0 if row["ratio"] <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
