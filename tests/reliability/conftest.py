"""Fixtures and figures for the reliability suite.

Every test here runs twice over: bounded (``make test``, a few seconds each)
and with big counts when ``PIW_SOAK=1`` (``make soak``).  :func:`scaled`
picks the count.  Each test records its figures (kills survived, malformed
inputs tried, requests served, RSS...) with :func:`report`; they are printed
in the test's own output and again in one table at the end of the run, so
the closing note can quote them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))

from chase_helpers import MrChase, make_config  # noqa: E402
from reliability_helpers import FIGURES, SOAK  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section(f"reliability figures ({'soak' if SOAK else 'bounded'})")
    for test, figures in FIGURES.items():
        terminalreporter.write_line(f"{test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.fixture
def ipc_dir():
    """A short, fresh directory under /tmp for the ipc socket, config and logs (ipc paths are short)."""
    path = tempfile.mkdtemp(prefix="mcr-", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mr_chase(repository, ipc_dir):
    """A running Mr Chase subprocess on the test's repository (log level info: the fuzzer is loud)."""
    chase = MrChase(make_config(repository, ipc_dir, log_level="info"), ipc_dir).start()
    yield chase
    chase.stop()
