"""Mr Chase: the piwheels removal service behind the import queue.

One process, one ZeroMQ REP socket, one PostgreSQL connection.  It removes
versions (database rows, wheels on disk, index page) all or nothing, answers
STATUS, marks packages skipped and answers PING.  See DESIGN.md for the
contract; each concern lives in its own module:

config    the YAML configuration and its validation
protocol  the wire format: the table of message types, decode and encode
database  the SQL on the piwheels 0.23 tables
tree      the wheels and index pages under output_path
journal   the crash journal that makes a removal all or nothing
audit     the JSON-lines audit log
removal   one REMOVE, step by step
service   the request loop
ping      the readiness probe the role runs after a start (python -m mr_chase.ping)
"""

from __future__ import annotations

__version__ = "0.1.0"
