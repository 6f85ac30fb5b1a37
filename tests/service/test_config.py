"""Configuration: defaults, and an error naming the key for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from mr_chase.config import ConfigError, load_config, parse_config

MINIMAL = {"dsn": "postgresql:///piwheels", "output_path": "/var/www/piwheels"}


def test_defaults():
    config = parse_config(dict(MINIMAL))
    assert config.import_queue == "ipc:///tmp/piw-import"
    assert config.socket_mode == 0o660
    assert config.log_level == "info" and config.log_file is None and config.audit_log is None
    assert config.allow_remote_queue is False
    assert config.output_path == Path("/var/www/piwheels")
    assert config.ipc_path == Path("/tmp/piw-import")


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
    ({**MINIMAL, "import_queue": "tcp://0.0.0.0:5555"}, "import_queue"),
    ({**MINIMAL, "import_queue": "/tmp/piw-import"}, "import_queue"),
    ({**MINIMAL, "audit_log": ["a"]}, "audit_log"),
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


def test_invalid_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dsn: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
