"""``python -m mr_chase --config FILE``: load the configuration, set up logging, serve.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the queue cannot be
bound (another live process holds it; the message names it) or was taken
over while serving, 2 when the configuration is unusable (the message names
the key; a metrics_dir it cannot write is found at start-up), 3 when the
database role lacks privileges (the GRANT statements that fix it are
printed, one per line) or is a superuser and the configuration does not say
``allow_superuser: true``, 4 when a part of the service failed beyond repair
(a thread died): systemd then starts it again.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys

import zmq

from . import __version__
from .config import Config, ConfigError, load_config
from .listener import AddressTaken
from .loop import ThreadDied
from .privileges import MissingPrivileges, RoleRefused
from .service import AddressLost, Service
from .tree import StateLocked


def setup_logging(config: Config) -> None:
    if config.log_file is not None:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        # reopened when logrotate moves the file away (no copytruncate, no signal needed)
        handler: logging.Handler = logging.handlers.WatchedFileHandler(config.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.logging_level)


def fail(config: Config, code: int, message: str) -> int:
    """Log why the service stops, and say it on stderr too unless the log already goes there."""
    logging.getLogger("mr_chase").error("%s", message)
    if config.log_file is not None:
        print(f"mr_chase: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mr_chase", description="The piwheels removal service.")
    parser.add_argument("--config", required=True, help="YAML configuration file")
    parser.add_argument("--version", action="version", version=f"mr_chase {__version__}")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"mr_chase: {exc}", file=sys.stderr)
        return 2
    setup_logging(config)
    try:
        Service(config).run()
    except (AddressTaken, AddressLost, StateLocked) as exc:
        return fail(config, 1, str(exc))
    except MissingPrivileges as exc:
        grants = "\n".join(exc.statements)
        return fail(config, 3, f"{exc}; not starting. As a superuser (or the tables' owner), run:\n{grants}")
    except RoleRefused as exc:
        return fail(config, 3, f"{exc}; not starting: {exc.fix}")
    except ThreadDied as exc:
        return fail(config, 4, str(exc))
    except ConfigError as exc:  # found only when the service starts (metrics_dir not writable)
        return fail(config, 2, str(exc))
    except zmq.ZMQError as exc:
        return fail(config, 1, f"cannot bind {config.import_queue}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
