"""The configuration file of Mr Chase, loaded once at start-up.

A mistake in the configuration must stop the service before it binds the
queue, with a message naming the key, so the operator (or the role) can fix
it; a service that guesses runs with the wrong database or an open socket.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: in the service's own runtime directory (systemd's RuntimeDirectory=mr-chase)
DEFAULT_QUEUE = "ipc:///run/mr-chase/queue"
#: piw-master's own import queue (its Mr Chase task): never ours to bind
MASTER_IMPORT_QUEUE = "ipc:///tmp/piw-import"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: more workers than this would only hold database connections: the scan waits for the disk and the database
MAX_AUDIT_WORKERS = 32


class ConfigError(Exception):
    """The configuration is unusable; the message names the key."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"configuration key {key!r}: {problem}")
        self.key = key


@dataclass(frozen=True)
class Config:
    dsn: str
    output_path: Path
    import_queue: str = DEFAULT_QUEUE
    socket_mode: int = 0o660
    log_file: Path | None = None
    log_level: str = "info"
    audit_log: Path | None = None
    allow_remote_queue: bool = False
    #: piw-master's import queue, told about every change so it rewrites the project pages (optional)
    master_queue: str | None = None
    master_timeout: float = 5.0
    #: connect as a PostgreSQL superuser all the same (refused otherwise: least privilege is the contract)
    allow_superuser: bool = False
    #: archives mounted on this host: location (normalised, no trailing slash) -> the archive root (holding
    #: simple/<package>/<filename>); their files are removed inside the journal, never left pending
    archives: dict[str, Path] = field(default_factory=dict)
    #: where to write Prometheus metrics for node_exporter's textfile collector (metrics.py); None: none
    metrics_dir: Path | None = None
    #: processes that check a site audit's batches (scan_workers.py); 1: Mr Chase checks them itself
    audit_workers: int = 2

    @property
    def ipc_path(self) -> Path | None:
        """The socket file of an ``ipc://`` queue, else None."""
        if self.import_queue.startswith("ipc://"):
            return Path(self.import_queue[len("ipc://"):])
        return None

    @property
    def logging_level(self) -> int:
        return getattr(logging, self.log_level.upper())


# key -> (type, required); types are checked exactly (bool is not a str)
SCHEMA: dict[str, tuple] = {
    "dsn": (str, True),
    "output_path": (str, True),
    "import_queue": (str, False),
    "socket_mode": (str, False),
    "log_file": (str, False),
    "log_level": (str, False),
    "audit_log": (str, False),
    "allow_remote_queue": (bool, False),
    "master_queue": (str, False),
    "master_timeout": ((int, float), False),
    "allow_superuser": (bool, False),
    "archives": (list, False),
    "metrics_dir": (str, False),
    "audit_workers": (int, False),
}


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("--config", f"{path} is not valid YAML: {exc}") from None
    return parse_config({} if data is None else data)


def parse_config(data: Any) -> Config:
    """Validate a mapping as read from YAML and build the :class:`Config`."""
    if not isinstance(data, dict):
        raise ConfigError("(top level)", "must be a mapping of keys to values")
    for key in data:
        if key not in SCHEMA:
            raise ConfigError(str(key), f"unknown key; known keys are {', '.join(sorted(SCHEMA))}")
    values: dict[str, Any] = {}
    for key, (kind, required) in SCHEMA.items():
        if key not in data or data[key] is None:
            if required:
                raise ConfigError(key, "is required")
            continue
        value = data[key]
        # bool is an int to isinstance(); a YAML "yes" must not pass as a number
        if key == "socket_mode" and isinstance(value, int) and not isinstance(value, bool):
            value = _integer_mode(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(key, f"must be a {_type_name(kind)}, not {type(value).__name__}")
        if kind is str and not value:
            raise ConfigError(key, "must not be empty")
        values[key] = value
    return _build(values)


def _type_name(kind: type | tuple[type, ...]) -> str:
    return "number" if isinstance(kind, tuple) else kind.__name__


def _integer_mode(value: int) -> str:
    """An unquoted mode, read as ansible.builtin.file reads one: YAML already took ``0660`` as octal (432).

    Returned as the octal string it stands for, so one check covers both spellings.
    """
    if not 0 <= value <= 0o777:
        raise ConfigError("socket_mode", f"{value} is not a file mode; write it quoted, such as \"0660\"")
    return f"0{value:03o}"


def _build(values: dict[str, Any]) -> Config:
    if "socket_mode" in values:
        mode = values["socket_mode"]
        if not re.fullmatch(r"0?[0-7]{3}", mode):
            raise ConfigError("socket_mode", f"must be an octal mode such as \"0660\", not {mode!r}")
        values["socket_mode"] = int(mode, 8)
    level = values.get("log_level", "info").lower()
    if level not in LOG_LEVELS:
        raise ConfigError("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
    values["log_level"] = level
    queue = values.get("import_queue", DEFAULT_QUEUE)
    if not re.match(r"^[a-z]+://.+", queue):
        raise ConfigError("import_queue", f"{queue!r} is not a ZeroMQ address such as {DEFAULT_QUEUE}")
    if queue.startswith("ipc://@"):
        raise ConfigError("import_queue", f"{queue!r} is an abstract socket, which no file mode protects; "
                                          f"use a socket file such as {DEFAULT_QUEUE}")
    if not queue.startswith("ipc://") and not values.get("allow_remote_queue", False):
        raise ConfigError("import_queue", f"{queue!r} is not an ipc:// address; set allow_remote_queue: true "
                                          "to accept a queue other machines may reach")
    _check_master(values, queue)
    if "metrics_dir" in values and not values["metrics_dir"].startswith("/"):
        raise ConfigError("metrics_dir", f"{values['metrics_dir']!r} is not an absolute path (node_exporter's "
                                         "textfile directory, such as /var/lib/prometheus/node-exporter)")
    for key in ("output_path", "log_file", "audit_log", "metrics_dir"):
        if key in values:
            values[key] = Path(values[key])
    if "archives" in values:
        values["archives"] = _archives(values["archives"])
    if not 1 <= values.get("audit_workers", 1) <= MAX_AUDIT_WORKERS:
        raise ConfigError("audit_workers", f"must be a number of processes from 1 (none: Mr Chase checks the "
                                           f"audit's batches itself) to {MAX_AUDIT_WORKERS}, not "
                                           f"{values['audit_workers']}")
    return Config(**values)


def _archives(entries: list) -> dict[str, Path]:
    """``archives: [{location, path}]``: each a distinct location (compared without a trailing slash) and the
    absolute path of an existing directory, the archive root mounted on this host."""
    archives: dict[str, Path] = {}
    for index, entry in enumerate(entries):
        key = f"archives[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"location", "path"}:
            raise ConfigError(key, "must be a mapping of exactly location and path")
        location, path = entry["location"], entry["path"]
        if not isinstance(location, str) or not location.strip("/") or location.rstrip("/") == "/simple":
            raise ConfigError(f"{key}.location", f"must be an archive server's files.location, not {location!r}")
        location = location.rstrip("/")
        if location in archives:
            raise ConfigError(f"{key}.location", f"{location!r} is listed twice")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ConfigError(f"{key}.path", f"must be an absolute path, not {path!r}")
        if not os.path.isdir(path):
            raise ConfigError(f"{key}.path", f"{path} is not an existing directory (the archive root, mounted)")
        archives[location] = Path(path)
    return archives


def _check_master(values: dict[str, Any], queue: str) -> None:
    """Mr Chase never binds piw-master's queue; the master's queue is a ZeroMQ address; the timeout is bounded."""
    master = values.get("master_queue")
    if queue in (MASTER_IMPORT_QUEUE, master):
        raise ConfigError("import_queue", f"{queue!r} is piw-master's own import queue; give Mr Chase an address "
                                          f"of its own, such as {DEFAULT_QUEUE}")
    if master is not None and not re.match(r"^[a-z]+://.+", master):
        raise ConfigError("master_queue", f"{master!r} is not a ZeroMQ address such as {MASTER_IMPORT_QUEUE}")
    timeout = values.get("master_timeout", 5.0)
    if not 0 < timeout <= 300:
        raise ConfigError("master_timeout", f"must be a number of seconds between 0 and 300, not {timeout!r}")
    values["master_timeout"] = float(timeout)
