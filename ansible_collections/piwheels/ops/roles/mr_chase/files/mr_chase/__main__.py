"""``python -m mr_chase --config FILE``: load the configuration, set up logging, serve.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the queue cannot be
bound (or another Mr Chase already listens on it), 2 when the configuration is
unusable (the message names the key).
"""

from __future__ import annotations

import argparse
import logging
import sys

import zmq

from . import __version__
from .config import Config, ConfigError, load_config
from .service import AlreadyListening, Service


def setup_logging(config: Config) -> None:
    if config.log_file is not None:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(config.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.logging_level)


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
    except AlreadyListening as exc:
        logging.getLogger("mr_chase").error("%s; not starting", exc)
        print(f"mr_chase: {exc}", file=sys.stderr)
        return 1
    except zmq.ZMQError as exc:
        logging.getLogger("mr_chase").error("cannot bind %s: %s", config.import_queue, exc)
        print(f"mr_chase: cannot bind {config.import_queue}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
