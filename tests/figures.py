"""Figures tests record for the closing note (kills survived, requests served...), printed at the end of the run.

A module of its own so that the root conftest can gather them from every
pytest-xdist worker: each worker's figures travel to the controller in its
``workeroutput`` and the controller prints one table.
"""

from __future__ import annotations

#: test name -> {figure: value}
FIGURES: dict[str, dict[str, object]] = {}


def report(test: str, **figures) -> None:
    """Record and print the figures of one test."""
    FIGURES.setdefault(test, {}).update(figures)
    print(f"[reliability] {test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def portable(figures: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """The figures as plain values, which execnet carries from a worker to the controller."""
    plain = (str, int, float, bool, type(None))
    return {test: {k: v if isinstance(v, plain) else str(v) for k, v in values.items()}
            for test, values in figures.items()}
