"""Monitoring sees Mr Chase (issue 24, item 6): the textfile metrics it writes, and systemd's notify protocol.

The metrics file is read back with prometheus-client's own parser after real
requests, so the counts are exact; the sd_notify datagrams go to a socket
the test binds in place of systemd's, so READY, the loop's keep-alives (and
their absence while the loop is wedged in a request) and STOPPING are seen
as systemd would see them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import yaml
from chase_helpers import ROOT, SERVICE_PATH, MrChase, make_config, wait_for
from prometheus_client.parser import text_string_to_metric_families

README = ROOT / "README.md"


def read_metrics(path: Path) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from a metrics file, through prometheus-client's parser."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(path.read_text()) for sample in family.samples}


def value(metrics: dict, name: str, **labels) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def test_the_metrics_file_counts_every_request_exactly(repository, ipc_dir):
    metrics_dir = ipc_dir / "textfile"
    metrics_dir.mkdir()
    chase = MrChase(make_config(repository, ipc_dir, metrics_dir=str(metrics_dir)), ipc_dir).start()
    path = metrics_dir / "mr_chase.prom"
    try:
        assert value(read_metrics(path), "piwheels_mr_chase_up") == 1  # written before the first request
        for _ in range(3):
            assert chase.client("STATUS", "alpha", "1.0")[0] == "STATUS"
        assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
        assert chase.client("REMOVE", "alpha", "9.9", True)[0] == "ERROR"
        assert chase.client("FORGET", "gamma", "1.1") == ["DONE"]
        assert chase.client("PING")[0] == "PONG"  # not counted
        assert chase.client.raw(b'["REMOVE"]')[0] == "ERROR"  # invalid

        def settled():
            metrics = read_metrics(path)
            return value(metrics, "piwheels_mr_chase_requests_total", type="invalid") == 1 and metrics
        metrics = wait_for(lambda: settled(), timeout=20) and settled()
        assert value(metrics, "piwheels_mr_chase_requests_total", type="STATUS") == 3
        assert value(metrics, "piwheels_mr_chase_requests_total", type="REMOVE") == 2
        assert value(metrics, "piwheels_mr_chase_requests_total", type="FORGET") == 1
        assert value(metrics, "piwheels_mr_chase_requests_total", type="PING") is None
        assert value(metrics, "piwheels_mr_chase_errors_total", type="REMOVE") == 1
        assert value(metrics, "piwheels_mr_chase_errors_total", type="invalid") == 1
        assert value(metrics, "piwheels_mr_chase_errors_total", type="STATUS") is None
        assert value(metrics, "piwheels_mr_chase_removal_seconds_count", type="REMOVE") == 1  # done ones only
        assert value(metrics, "piwheels_mr_chase_removal_seconds_count", type="FORGET") == 1
        assert 0 < value(metrics, "piwheels_mr_chase_removal_seconds_sum", type="REMOVE") < 10
        for name in ("journal_pending", "outbox_notices", "outbox_oldest_age_seconds", "stale_pages",
                     "parked_notices"):
            assert value(metrics, f"piwheels_mr_chase_{name}") == 0, name
        assert not [key for key in metrics if key[0] == "piwheels_mr_chase_degraded"]
        assert sorted(p.name for p in metrics_dir.iterdir()) == ["mr_chase.prom"]  # no temporary file left
    finally:
        assert chase.stop() == 0
    assert value(read_metrics(path), "piwheels_mr_chase_up") == 0


ARCHIVE1 = "https://archive1.piwheels.example/simple"
ARCHIVE2 = "https://archive2.piwheels.example/simple"


def archive(repository, package: str, version: str, location: str) -> list[str]:
    """Move the first file of a version to an archive server (its row names ``location``, its wheel leaves this
    host), as tests/archive does; return [package, filename]."""
    filename = repository.manifest.files(package, version)[0]
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("UPDATE files SET location = %s WHERE filename = %s", (location, filename))
    (repository.simple / package / filename).unlink()
    return [package, filename]


def test_archive_pending_is_a_gauge_per_location_that_archived_brings_back_to_zero(repository, ipc_dir):
    metrics_dir = ipc_dir / "textfile"
    metrics_dir.mkdir()
    chase = MrChase(make_config(repository, ipc_dir, metrics_dir=str(metrics_dir)), ipc_dir).start()
    path = metrics_dir / "mr_chase.prom"

    def pending_series() -> dict[str, float]:
        return {dict(labels)["location"]: count for (name, labels), count in read_metrics(path).items()
                if name == "piwheels_mr_chase_archive_pending"}
    try:
        assert pending_series() == {}  # nothing pending, no location named
        alpha, gamma = list(repository.manifest.packages["alpha"]), list(repository.manifest.packages["gamma"])
        first = archive(repository, "alpha", alpha[0], ARCHIVE1)
        second = archive(repository, "gamma", gamma[0], ARCHIVE1 + "/")
        third = archive(repository, "gamma", gamma[1], ARCHIVE2)
        assert chase.client("REMOVE", "alpha", alpha[0], True) == ["DONE"]
        assert chase.client("FORGET", "gamma", gamma[0]) == ["DONE"]
        assert chase.client("REMOVE", "gamma", gamma[1], False) == ["DONE"]
        wait_for(lambda: pending_series() == {ARCHIVE1: 2, ARCHIVE2: 1}, timeout=20)
        assert chase.client("ARCHIVED", ARCHIVE1, [first, second]) == ["DONE"]
        wait_for(lambda: pending_series() == {ARCHIVE1: 0, ARCHIVE2: 1}, timeout=20)  # drained: 0, not gone
        assert chase.client("PENDING", ARCHIVE2)[1]["files"] == [third]
    finally:
        assert chase.stop() == 0


def test_a_degraded_service_has_its_reason_in_the_metrics(repository, ipc_dir):
    metrics_dir = ipc_dir / "textfile"
    metrics_dir.mkdir()
    closed = "postgresql://mr_chase@127.0.0.1:9/piwheels?connect_timeout=2"
    chase = MrChase(make_config(repository, ipc_dir, dsn=closed, metrics_dir=str(metrics_dir)), ipc_dir).start()
    try:
        metrics = read_metrics(metrics_dir / "mr_chase.prom")
        assert value(metrics, "piwheels_mr_chase_degraded", reason="database") == 1
    finally:
        assert chase.stop() == 0


def start_failure(repository, ipc_dir, metrics_dir: str) -> subprocess.CompletedProcess:
    config = MrChase(make_config(repository, ipc_dir, metrics_dir=metrics_dir), ipc_dir).config_path
    return subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(config)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)), timeout=30)


def test_a_metrics_dir_that_is_relative_or_not_writable_stops_the_start_naming_the_key(repository, ipc_dir):
    relative = start_failure(repository, ipc_dir, "textfile")
    assert relative.returncode == 2
    assert "configuration key 'metrics_dir': 'textfile' is not an absolute path" in relative.stderr
    missing = start_failure(repository, ipc_dir, str(ipc_dir / "nowhere"))
    assert missing.returncode == 2, missing.stderr
    assert (f"configuration key 'metrics_dir': cannot write {ipc_dir}/nowhere/mr_chase.prom: "
            "No such file or directory") in missing.stderr


class FakeSystemd:
    """The datagram socket systemd listens on ($NOTIFY_SOCKET), recording what it receives, with when."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue

    def states(self, since: float = 0.0, until: float = float("inf")) -> list[str]:
        return [state for at, state in list(self.received) if since <= at <= until]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_systemd_hears_ready_keep_alives_from_the_loop_none_while_it_is_wedged_and_stopping(repository, ipc_dir):
    systemd = FakeSystemd(ipc_dir / "notify")
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir)
    # WatchdogSec=0.4 s: a keep-alive every 0.2 s; the removal's "moving" step wedges the loop for 3 s
    chase.start(env={"NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "400000", "MR_CHASE_DELAY_AT": "moving:3"})
    try:
        wait_for(lambda: systemd.states().count("WATCHDOG=1") >= 3, timeout=10)
        assert systemd.states()[0] == "READY=1"
        replies = []
        wedged = threading.Thread(target=lambda: replies.append(chase.client("REMOVE", "alpha", "1.0", True)))
        wedged.start()
        time.sleep(0.5)  # the loop is in the removal's delayed step by now
        quiet_from = time.monotonic()
        assert chase.client("PING")[0] == "PONG"  # the stand-in answers PING ...
        time.sleep(2.0)
        quiet_to = time.monotonic()
        assert systemd.states(quiet_from, quiet_to) == []  # ... but only the loop keeps systemd's watchdog fed
        wedged.join(15)
        assert replies == [["DONE"]]
        resumed = time.monotonic()
        wait_for(lambda: "WATCHDOG=1" in systemd.states(since=resumed), timeout=5)
    finally:
        assert chase.stop() == 0
        systemd.close()
    assert systemd.states()[-1] == "STOPPING=1"


def test_without_notify_socket_nothing_is_sent_and_the_service_runs(repository, ipc_dir):
    """The supervised mode (mr-chase-ctl) has no $NOTIFY_SOCKET: sd_notify is a no-op there."""
    from mr_chase.systemd import Watchdog, notify

    env = {key: os.environ.pop(key) for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC") if key in os.environ}
    try:
        assert notify("READY=1") is False
        assert Watchdog().interval is None
    finally:
        os.environ.update(env)


def alert_rules() -> dict:
    """The example alert rules: the README's ```yaml block under "Alerting on Mr Chase"."""
    text = README.read_text()
    section = text[text.index("#### Alerting on Mr Chase"):]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def test_the_readme_s_alert_rules_load_and_name_only_metrics_mr_chase_writes(repository, ipc_dir):
    rules = [rule for group in alert_rules()["groups"] for rule in group["rules"]]
    assert rules and all({"alert", "expr"} <= set(rule) for rule in rules)
    metrics_dir = ipc_dir / "textfile"
    metrics_dir.mkdir()
    chase = MrChase(make_config(repository, ipc_dir, metrics_dir=str(metrics_dir)), ipc_dir).start()
    try:
        assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
        assert chase.client("REMOVE", "alpha", "9.9", True)[0] == "ERROR"  # a labelled series exists once counted
        path = metrics_dir / "mr_chase.prom"
        wait_for(lambda: value(read_metrics(path), "piwheels_mr_chase_errors_total", type="REMOVE") == 1, timeout=20)
        written = {family.name for family in text_string_to_metric_families(path.read_text())}
        written |= {sample.name for family in text_string_to_metric_families(path.read_text())
                    for sample in family.samples}
        written.add("piwheels_mr_chase_degraded")  # a sample only while degraded (its HELP and TYPE always)
    finally:
        assert chase.stop() == 0
    used = {name for rule in rules for name in re.findall(r"\bpiwheels_mr_chase_[a-z_]+", rule["expr"])}
    assert used and used <= written, used - written
