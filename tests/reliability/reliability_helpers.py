"""Counts and figures shared by the reliability tests (a module of its own: test files cannot import conftest)."""

from __future__ import annotations

import os

SOAK = os.environ.get("PIW_SOAK") == "1"

#: test name -> {figure: value}, printed by pytest_terminal_summary
FIGURES: dict[str, dict[str, object]] = {}


def scaled(bounded, soak):
    """The count (or duration) for this run: ``soak`` under PIW_SOAK=1, else ``bounded``."""
    return soak if SOAK else bounded


def report(test: str, **figures) -> None:
    """Record and print the figures of one test."""
    FIGURES.setdefault(test, {}).update(figures)
    print(f"[reliability] {test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
