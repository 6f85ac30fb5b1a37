# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The mr_chase role's defaults and its argument specs say the same thing, so neither drifts from the other."""

from __future__ import annotations

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "mr_chase"


def _defaults():
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))


def _options():
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return specs["argument_specs"]["main"]["options"]


def test_every_default_is_documented_with_the_same_value():
    options = _options()
    for name, value in _defaults().items():
        assert name in options, f"{name} has a default but no argument spec"
        assert options[name].get("default") == value, name


def test_every_optional_variable_has_a_default():
    defaults = _defaults()
    for name, option in _options().items():
        assert option.get("required", False) != (name in defaults), name


def test_secrets_are_no_log():
    options = _options()
    assert options["mr_chase_dsn"]["no_log"] is True
    assert options["mr_chase_database_admin_dsn"]["no_log"] is True


def test_every_variable_is_prefixed():
    assert all(name.startswith("mr_chase_") for name in _options())
