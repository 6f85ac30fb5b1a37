"""Configuration: defaults, and an error naming the key for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from mr_chase.config import ConfigError, load_config, parse_config

MINIMAL = {"dsn": "postgresql:///piwheels", "output_path": "/var/www/piwheels"}


def test_defaults():
    config = parse_config(dict(MINIMAL))
    assert config.import_queue == "ipc:///run/mr-chase/queue"
    assert config.socket_mode == 0o660
    assert config.log_level == "info" and config.log_file is None and config.audit_log is None
    assert config.allow_remote_queue is False
    assert config.output_path == Path("/var/www/piwheels")
    assert config.ipc_path == Path("/run/mr-chase/queue")
    assert config.master_queue is None and config.master_timeout == 5.0
    assert config.allow_superuser is False
    assert config.metrics_dir is None
    assert config.audit_workers == 2
    assert parse_config({**MINIMAL, "audit_workers": 1}).audit_workers == 1
    assert parse_config({**MINIMAL, "metrics_dir": "/var/lib/node"}).metrics_dir == Path("/var/lib/node")


@pytest.mark.parametrize("data, key", [
    ({"output_path": "/x"}, "dsn"),
    ({"dsn": "x"}, "output_path"),
    ({**MINIMAL, "colour": "blue"}, "colour"),
    ({**MINIMAL, "dsn": 5}, "dsn"),
    ({**MINIMAL, "dsn": ""}, "dsn"),
    ({**MINIMAL, "socket_mode": 660}, "socket_mode"),
    ({**MINIMAL, "socket_mode": "0999"}, "socket_mode"),
    ({**MINIMAL, "socket_mode": "rw-rw----"}, "socket_mode"),
    ({**MINIMAL, "log_level": "loud"}, "log_level"),
    ({**MINIMAL, "allow_remote_queue": "yes"}, "allow_remote_queue"),
    ({**MINIMAL, "allow_superuser": "yes"}, "allow_superuser"),
    ({**MINIMAL, "allow_superuser": 1}, "allow_superuser"),
    ({**MINIMAL, "import_queue": "tcp://0.0.0.0:5555"}, "import_queue"),
    ({**MINIMAL, "import_queue": "/tmp/piw-import"}, "import_queue"),
    ({**MINIMAL, "audit_log": ["a"]}, "audit_log"),
    ({**MINIMAL, "socket_mode": -1}, "socket_mode"),
    ({**MINIMAL, "socket_mode": True}, "socket_mode"),
    ({**MINIMAL, "import_queue": "ipc:///tmp/piw-import"}, "import_queue"),
    ({**MINIMAL, "import_queue": "ipc:///tmp/q", "master_queue": "ipc:///tmp/q"}, "import_queue"),
    ({**MINIMAL, "master_queue": "/tmp/piw-import"}, "master_queue"),
    ({**MINIMAL, "master_queue": 5}, "master_queue"),
    ({**MINIMAL, "master_timeout": 0}, "master_timeout"),
    ({**MINIMAL, "master_timeout": "5"}, "master_timeout"),
    ({**MINIMAL, "import_queue": "ipc://@mr-chase"}, "import_queue"),
    ({**MINIMAL, "metrics_dir": "textfile"}, "metrics_dir"),
    ({**MINIMAL, "metrics_dir": ""}, "metrics_dir"),
    ({**MINIMAL, "metrics_dir": True}, "metrics_dir"),
    ({**MINIMAL, "audit_workers": 0}, "audit_workers"),
    ({**MINIMAL, "audit_workers": 33}, "audit_workers"),
    ({**MINIMAL, "audit_workers": "2"}, "audit_workers"),
    ({**MINIMAL, "audit_workers": True}, "audit_workers"),
    ({**MINIMAL, "audit_workers": 2.5}, "audit_workers"),
])
def test_errors_name_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.key == key
    assert repr(key) in str(info.value)


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError):
        parse_config(["dsn"])


def test_remote_queue_when_allowed():
    config = parse_config({**MINIMAL, "import_queue": "tcp://127.0.0.1:5555", "allow_remote_queue": True})
    assert config.ipc_path is None


def test_load_from_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('dsn: postgresql:///p\noutput_path: /srv/www\nsocket_mode: "0600"\nlog_level: DEBUG\n')
    config = load_config(path)
    assert config.socket_mode == 0o600 and config.log_level == "debug"


def test_unquoted_mode_is_read_as_ansible_reads_it(tmp_path):
    """YAML 1.1 takes an unquoted 0660 as the octal number 432: that is mode 0660, never 0432."""
    path = tmp_path / "c.yaml"
    path.write_text("dsn: postgresql:///p\noutput_path: /srv/www\nsocket_mode: 0660\n")
    assert load_config(path).socket_mode == 0o660
    assert parse_config({**MINIMAL, "socket_mode": 0o600}).socket_mode == 0o600


def test_a_mode_that_is_no_mode_says_to_quote_it():
    with pytest.raises(ConfigError, match="write it quoted"):
        parse_config({**MINIMAL, "socket_mode": 660})


def test_master_queue(tmp_path):
    config = parse_config({**MINIMAL, "master_queue": "ipc:///tmp/piw-import", "master_timeout": 2})
    assert config.master_queue == "ipc:///tmp/piw-import" and config.master_timeout == 2.0


def test_invalid_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dsn: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
