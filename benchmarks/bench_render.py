"""Issue 25: rendering a 2,000-link package page, Mr Chase's page writer against a Chameleon template.

piw-master renders ``simple/<package>/index.html`` with a Chameleon (TAL)
template; Mr Chase writes the same bytes with string pieces (page.py).  This
measures the render alone, both sides in memory, for the same rows:

* ``mr_chase``: ``page.render_page`` from the rows in any order (it sorts
  them into page order itself, and that sort is timed);
* ``chameleon``: a TAL template of this project's own (TEMPLATE below) that
  produces the master's format, rendered by Chameleon from rows already in
  page order (the master's query hands them over sorted, so Chameleon is
  not charged for the sort).

Before timing, both outputs are checked to be the same bytes (timestamp
comment aside), so the comparison is of the same page.  Interleaved rounds,
medians; target mr_chase / chameleon <= 0.5 (Mr Chase keeps at least a 2x
lead; the issue measured about 2 ms against 15 ms).

    .venv/bin/python benchmarks/bench_render.py [--quick] [--files 2000] [--rounds 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from chameleon import PageTemplate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import PACKAGE, rows  # noqa: E402
from common import RESULTS, bar_plot, median_ms, print_table, write_csv, write_summary  # noqa: E402
from mr_chase.page import in_page_order, render_page  # noqa: E402

TARGET = 0.5
#: the master's page format (DESIGN.md, "Files on disk") as a TAL template; the timestamp comment is
#: appended after rendering, as the master's page writer does
TEMPLATE = """<!doctype html>
<html>
<head>
<title>piwheels - Links for ${package}</title>
</head>
<body>
<h1>Links for ${package}</h1>

<tal:link repeat="row files"><a href="${row.location}/${package}/${row.filename}#sha256=${row.filehash}" \
tal:attributes="data-yanked '' if row.yanked else None; \
data-requires-python row.requires_python if row.requires_python else None">${row.filename}</a><br>
</tal:link></body>
</html>
"""


def same_page(template: PageTemplate, page_rows: list) -> None:
    ours = render_page(PACKAGE, page_rows).rsplit("\n<!--", 1)[0] + "\n"
    theirs = template(package=PACKAGE, files=in_page_order(page_rows))
    if ours != theirs:
        raise SystemExit("the Chameleon template and Mr Chase render different pages: nothing to compare")


def measure(template: PageTemplate, page_rows: list, rounds: int) -> dict[str, list[float]]:
    ordered = in_page_order(page_rows)
    times: dict[str, list[float]] = {"mr_chase": [], "chameleon": []}
    for r in range(rounds + 5):
        for method in (["mr_chase", "chameleon"] if r % 2 == 0 else ["chameleon", "mr_chase"]):
            started = time.perf_counter()
            if method == "mr_chase":
                render_page(PACKAGE, page_rows)
            else:
                template(package=PACKAGE, files=ordered)
            if r >= 5:
                times[method].append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    rounds = args.rounds or (20 if args.quick else 300)
    template = PageTemplate(TEMPLATE)
    page_rows = rows(args.files)
    same_page(template, page_rows)
    times = measure(template, page_rows, rounds)
    chase, chameleon = median_ms(times["mr_chase"]), median_ms(times["chameleon"])
    row = {"files": args.files, "rounds": rounds, "mr_chase_ms": chase, "chameleon_ms": chameleon,
           "ratio": round(chase / chameleon, 3)}
    print_table([row], list(row))
    print(f"(medians of {rounds} interleaved rounds; target mr_chase / chameleon <= {TARGET})")
    args.results.mkdir(parents=True, exist_ok=True)
    write_csv(args.results / "bench_render.csv", [row])
    case = f"files={args.files}: mr_chase / chameleon render"
    write_summary(args.results / "bench_render.json", [{"case": case, "ratio": row["ratio"], "target": TARGET}])
    bar_plot(args.results / "bench_render.png", [f"{args.files:,} links"],
             {"Mr Chase page writer (ms)": [chase], "Chameleon template (ms)": [chameleon]}, "ms",
             "Package page render")
    return 0 if row["ratio"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
