"""The test hooks of Mr Chase's steps: a checkpoint is called with each step's name (a removal's, a scan's).

In production no variable is set and the checkpoint does nothing.  The
tests set one in Mr Chase's environment, which the audit's worker processes
(scan_workers.py) inherit, so a step is slowed, failed or crashed wherever
it runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def no_checkpoint(step: str) -> None:
    """The default: no test hook."""


def checkpoint_from_env() -> Callable[[str], None]:
    """MR_CHASE_CRASH_AT=<step> exits abruptly at that step, MR_CHASE_FAIL_AT=<step> raises there,
    MR_CHASE_DELAY_AT=<step>:<seconds> slows it down.  Unset (as in production) it does nothing."""
    crash_at = os.environ.get("MR_CHASE_CRASH_AT")
    fail_at = os.environ.get("MR_CHASE_FAIL_AT")
    delay_at, _sep, delay = os.environ.get("MR_CHASE_DELAY_AT", "").partition(":")
    if not crash_at and not fail_at and not delay_at:
        return no_checkpoint

    def checkpoint(step: str) -> None:
        if step == crash_at:
            os._exit(70)
        if step == fail_at:
            raise RuntimeError(f"failure injected at {step}")
        if step == delay_at:
            time.sleep(float(delay or 1))

    return checkpoint


__all__ = ["checkpoint_from_env", "no_checkpoint"]
