"""Shared helpers of the benchmark scripts: paths, a Mr Chase subprocess, tables, CSV and PNG output."""

from __future__ import annotations

import csv
import json
import os
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


def settle(sock, package: str, version: str | None = None, timeout: float = 300.0) -> None:
    """Send a STATUS and wait for its reply: the end of Mr Chase's clean-up of the change before it.

    Mr Chase's worker deletes a change's staged files after sending its reply and before it takes the next
    request, so the reply to a STATUS sent right after comes once that clean-up is over.  (Not a PING: the
    socket's thread answers a PING at once, whatever the worker is doing.)
    """
    sock.send(json.dumps(["STATUS", package, version]).encode())
    if not sock.poll(int(timeout * 1000)):
        raise RuntimeError(f"no reply to STATUS {package} {version} within {timeout:.0f} s")
    sock.recv()


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


def write_summary(path: Path, items: list[dict]) -> None:
    """A script's summary for run_all.py: a list of {"case", "ratio", "target"[, "met", "load"]}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=1) + "\n")


def machine_load() -> str:
    """The load averages (1, 5, 15 min) and core count, as ``uptime`` shows them, for results on a shared machine."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, bottom: float = 0.0) -> None:
    """Lay out (leaving ``bottom`` of the figure's height free for a note) and write the PNG."""
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    fig.clf()
    print(f"written {path}")


def bar_plot(path: Path, labels: list[str], series: dict[str, list[float]], ylabel: str, title: str,
             target: float | None = None) -> None:
    """Grouped bars, one group per label, one bar per series; a dashed line at ``target`` (for ratios)."""
    plt = _pyplot()
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
    _save(fig, path)
    plt.close(fig)


def curve_plot(path: Path, x: list[float], series: dict[str, list[float]], xlabel: str, ylabel: str, title: str,
               note: str = "") -> None:
    """One line per series against ``x``, both axes logarithmic; ``note`` (ratios, machine load) under the plot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for name, values in series.items():
        ax.plot(x, values, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, va="bottom")
    _save(fig, path, bottom=0.04 + 0.035 * note.count("\n") if note else 0.0)
    plt.close(fig)
