"""Helpers for the Mr Chase tests: a real Mr Chase (subprocess or in-process), a real client.

IPC socket paths must stay short (about 107 bytes), so every Mr Chase gets a
fresh directory directly under /tmp rather than under pytest's long tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import yaml
import zmq

ROOT = Path(__file__).resolve().parents[1]
SERVICE_PATH = ROOT / "ansible_collections/piwheels/ops/roles/mr_chase/files"
PROTOCOL_VECTORS = ROOT / "ansible_collections/piwheels/ops/tests/protocol_vectors.json"


#: PONG's health object of a Mr Chase that can serve changes and has nothing to warn about (least privilege held)
HEALTHY = {"degraded": [], "warnings": [], "stale_pages": 0, "parked_notices": 0, "archive_pending": 0}


def load_vectors() -> dict:
    return json.loads(Path(PROTOCOL_VECTORS).read_text())


def make_config(repository, ipc_dir: Path, **extra) -> dict:
    config = {
        "dsn": repository.service_dsn,
        "output_path": str(repository.output_path),
        "import_queue": f"ipc://{ipc_dir}/q",
        "audit_log": str(ipc_dir / "audit.jsonl"),
        "log_level": "debug",
    }
    config.update(extra)
    return config


class Client:
    """A REQ client with a timeout (a fresh socket per request, Lazy Pirate style)."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout
        self.context = zmq.Context.instance()

    def send_frames(self, frames: list[bytes], timeout: float | None = None) -> bytes | None:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.address)
        try:
            sock.send_multipart(frames)
            if not sock.poll(int((timeout or self.timeout) * 1000)):
                return None
            return sock.recv()
        finally:
            sock.close()

    def raw(self, frame: bytes, timeout: float | None = None) -> list | None:
        reply = self.send_frames([frame], timeout)
        return None if reply is None else json.loads(reply)

    def __call__(self, *message) -> list:
        reply = self.raw(json.dumps(list(message)).encode())
        assert reply is not None, f"no reply to {message}"
        return reply


class MrChase:
    """Mr Chase as a real subprocess: ``python -m mr_chase --config FILE``."""

    def __init__(self, config: dict, workdir: Path):
        self.config = config
        self.config_path = workdir / "mr-chase.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "mr-chase.log"
        self.address = config["import_queue"]
        self.client = Client(self.address)
        self.proc: subprocess.Popen | None = None

    def start(self, env: dict | None = None, wait: bool = True) -> MrChase:
        full_env = dict(os.environ, PYTHONPATH=str(SERVICE_PATH), **(env or {}))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "mr_chase", "--config", str(self.config_path)],
                                         env=full_env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"Mr Chase exited {self.proc.returncode}: {self.log()}"
            if self.client.raw(b'["PING"]', timeout=0.5) is not None:
                return
        raise AssertionError(f"Mr Chase did not answer PING: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def send_expecting_exit(self, frame: bytes, timeout: float = 10.0) -> int:
        """Send a request that makes Mr Chase exit; return its exit code (there is no reply)."""
        sock = self.client.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.address)
        try:
            sock.send(frame)
            return self.proc.wait(timeout)
        finally:
            sock.close()

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)


def wait_for(predicate, timeout: float = 20.0) -> float:
    """Poll ``predicate`` until it holds; return how many seconds that took, or fail after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def journal_pending(output_path: Path) -> bool:
    """Whether Mr Chase's journal holds a removal (the file itself always exists once it has started)."""
    path = Path(output_path) / ".mr-chase" / "journal.json"
    return path.exists() and path.stat().st_size > 0


def journal_record(output_path: Path) -> dict:
    """The pending journal entry, with the evidence line Mr Chase appends to it once its deletes returned."""
    text = (Path(output_path) / ".mr-chase" / "journal.json").read_text()
    return {key: value for line in text.splitlines() for key, value in json.loads(line).items()}


def scalar(dsn: str, query: str, *args):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, args).fetchone()[0]


def snapshot_db(dsn: str) -> dict:
    """Every row Mr Chase may touch, for before/after comparisons."""
    tables = {
        "packages": "SELECT package, skip FROM packages ORDER BY 1",
        "package_names": "SELECT name, package FROM package_names ORDER BY 1",
        "versions": "SELECT package, version, skip, yanked FROM versions ORDER BY 1, 2",
        "builds": "SELECT build_id, package, version FROM builds ORDER BY 1",
        "files": "SELECT filename, build_id, filehash FROM files ORDER BY 1",
        "dependencies": "SELECT filename, tool, dependency FROM dependencies ORDER BY 1, 2, 3",
        "downloads": "SELECT filename, accessed_by::text, accessed_at FROM downloads ORDER BY 1, 2, 3",
    }
    with psycopg.connect(dsn) as conn:
        return {name: conn.execute(query).fetchall() for name, query in tables.items()}


def snapshot_tree(root: Path) -> dict:
    """path -> sha256 of every file under root, or "-> target" of a symlink (Mr Chase's lock file and
    empty journal excluded)."""
    state = root / ".mr-chase"
    return {str(p.relative_to(root)): f"-> {os.readlink(p)}" if p.is_symlink()
            else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if (p.is_file() or p.is_symlink())
            and not (p == state / "lock" or (p == state / "journal.json" and not journal_pending(root)))}


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[dict] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def page_links(repository, package: str) -> dict[str, dict]:
    """filename -> attributes of its link on the package's index page (href: {location}/{package}/{filename})."""
    parser = Links()
    parser.feed((repository.simple / package / "index.html").read_text())
    return {link["href"].split("#", 1)[0].rsplit("/", 1)[-1]: link for link in parser.links}
