"""The README's "Tested with" table, generated from the record `make matrix` keeps.

    python tools/matrix_table.py [--check] [--record records/matrix.json] [--readme README.md]

`tools/matrix.py` appends each run to ``records/matrix.json`` (committed): when
it ran, on which commit, the collection version of galaxy.yml, and per
ansible-core release the result of each check.  The table between the
``<!-- matrix:begin -->`` and ``<!-- matrix:end -->`` markers of README.md is
written from the newest run, so the README never claims a run that is not in the
record.  ``--check`` writes nothing and exits 1 when the README's table is not
the record's (tests/collection/test_matrix_table.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "records/matrix.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"
#: column order and headings; ``{python}`` and ``{target_python}`` come from the run
COLUMNS = {
    "sanity": "sanity (Python {python})",
    "units": "units (Python {python})",
    "target": "compile and import on target Python {target_python}",
}


def load_runs(record: Path) -> list[dict]:
    """Every run of the record, oldest first; a missing or empty record is an error worth stopping on."""
    if not record.exists():
        raise SystemExit(f"{record} does not exist: run `make matrix`")
    runs = json.loads(record.read_text())["runs"]
    if not runs:
        raise SystemExit(f"{record} holds no run: run `make matrix`")
    return runs


def table(run: dict) -> str:
    """The Markdown the README shows for one recorded run."""
    headings = [text.format(**run) for text in COLUMNS.values()]
    lines = [
        f"`make matrix` on {run['date']}, commit `{run['commit']}`, piwheels.ops {run['collection_version']}:",
        "",
        "| ansible-core | " + " | ".join(headings) + " |",
        "|---" * (len(headings) + 1) + "|",
    ]
    for core, checks in run["results"].items():
        cells = [cell(checks.get(check)) for check in COLUMNS]
        lines.append(f"| {core} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cell(result: dict | None) -> str:
    if result is None:
        return "not run"
    return f"{'pass' if result['passed'] else 'FAIL'} ({result['detail']})"


def split_readme(content: str, readme: Path) -> tuple[str, str, str]:
    """The text before the table, the table, and the text after it."""
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} markers")
    head, rest = content.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    return head, body.strip("\n") + "\n", tail


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python tools/matrix_table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's table is not the record's")
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    wanted = table(load_runs(args.record)[-1])
    head, current, tail = split_readme(args.readme.read_text(), args.readme)
    if args.check:
        if current == wanted:
            return 0
        print(f"{args.readme}'s matrix table is not the newest run of {args.record}; "
              f"run `python tools/matrix_table.py` to write it.\nREADME:\n{current}record:\n{wanted}", end="")
        return 1
    args.readme.write_text(f"{head}{BEGIN}\n{wanted}{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
