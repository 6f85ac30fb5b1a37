"""Shared helpers of the benchmark scripts: paths, a Mr Chase subprocess, tables, CSV and PNG output."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PATH = ROOT / "ansible_collections/piwheels/ops/roles/mr_chase/files"
RESULTS = ROOT / "benchmarks/results"
for _path in (ROOT, SERVICE_PATH, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from chase_helpers import MrChase  # noqa: E402

from piwheels_testbed import SERVICE_ROLE, role_dsn  # noqa: E402


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 4)


def start_chase(dsn: str, output: Path, workdir: Path, **extra) -> MrChase:
    """A real Mr Chase (``python -m mr_chase``, log level info) on an ipc queue in ``workdir``, answering PING.

    It connects as its own role with the documented grants, never as the superuser of ``dsn``.
    """
    config = {"dsn": role_dsn(dsn, SERVICE_ROLE), "output_path": str(output), "import_queue": f"ipc://{workdir}/q",
              "audit_log": str(workdir / "audit.jsonl"), **extra}
    return MrChase(config, workdir).start()


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(_fmt(row[c]).rjust(w) for c, w in zip(columns, widths, strict=True)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {path}")


def bar_plot(path: Path, labels: list[str], series: dict[str, list[float]], ylabel: str, title: str,
             target: float | None = None) -> None:
    """Grouped bars, one group per label, one bar per series; a dashed line at ``target`` (for ratios)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(labels)), 4))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    if target is not None:
        ax.axhline(target, linestyle="--", color="red", label=f"target {target}")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"written {path}")
