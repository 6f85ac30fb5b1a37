# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Callback for the benchmarks: per-task wall time, written as JSON, so playbook start-up is not measured.

Enable with ANSIBLE_CALLBACK_PLUGINS=<this directory>, ANSIBLE_CALLBACKS_ENABLED=bench_timer and
BENCH_TIMER_FILE=<path>.  Each task becomes {"name", "seconds", "status"}: from the task's start
(v2_playbook_on_task_start) to its result (ok, changed, failed, skipped or unreachable), all items
of a loop included.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: per-task wall time as JSON, for piwheels.ops benchmarks
description:
  - Writes the wall time of every task to the file named by the BENCH_TIMER_FILE environment variable.
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BENCH_TIMER_FILE")
        self._tasks = []
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._current = {"name": task.get_name(), "start": time.perf_counter()}

    def _finish(self, status, result=None):
        if self._current is None:
            return
        task = self._current
        self._current = None
        record = {"name": task["name"], "seconds": time.perf_counter() - task["start"], "status": status}
        if result is not None:
            record["changed"] = bool(result._result.get("changed"))
            if status == "failed":
                record["msg"] = str(result._result.get("msg", ""))[:500]
        self._tasks.append(record)

    def v2_runner_on_ok(self, result):
        self._finish("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish("failed", result)

    def v2_runner_on_skipped(self, result):
        self._finish("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._finish("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        if self._path:
            with open(self._path, "w") as stream:
                json.dump(self._tasks, stream, indent=1)
