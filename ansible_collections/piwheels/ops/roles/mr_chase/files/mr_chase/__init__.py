"""Mr Chase: the piwheels removal service behind its own import queue, beside piw-master.

One process, one ZeroMQ ROUTER socket, one PostgreSQL connection (as its own
least-privilege role).  It removes versions (database rows, wheels on disk,
the simple page in piw-master's format) all or nothing, answers STATUS,
marks packages skipped, answers PING at once, and tells piw-master what
changed.  See DESIGN.md for the contract; each concern lives in its own
module:

config      the YAML configuration and its validation
protocol    the wire format: the table of message types, decode and encode
listener    who holds an ipc socket file (never take piw-master's queue)
loop        the request loop: one request at a time, PING answered at once by a stand-in while one takes long
service     what each request gets; start-up, recovery, stop
degradation why Mr Chase answers but cannot serve changes (PONG's degraded), found and cleared
status      the read-only answers (STATUS, MATCH, PENDING) and the metrics' sample
privileges  the database grants Mr Chase needs, checked at start-up (python -m mr_chase.privileges)
database    the SQL on the piwheels 0.23 tables
stall       the client-side deadline on every database call
page        the simple page, byte for byte as piw-master writes it
versions    PEP 440 order and equality of releases (packaging), as piw-master sorts them
matching    MATCH: which stored version a spelling names; a removed name's audit record; close names
tree        the wheels, pages and state under output_path
journal     the crash journal that makes a removal all or nothing
recovery_evidence  what recovery asks the database of a journalled change (did it commit?)
recovered   what a change settled by recovery still owes: its audit record and piw-master's notice, once each
removal     one REMOVE, step by step
notifier    piw-master's notifications (CBOR, after the reply, durable outbox)
audit_log   the JSON-lines audit log of every change
audit_job   the site audit as a job: AUDIT starts or joins it, JOB follows it, repairs handed to the loop thread
site_scan   the site audit's scan: batches of packages, then the archive listings, then the site-wide checks
site_rows   the scan's read-only SQL, a batch of packages per snapshot
package_check  one package's rows against its wheels, page, project page and alias links
scan_workers   the batches checked in Mr Chase or in audit_workers processes of its own
give_way    how the scan (its thread, its workers) waits while a request is served
site_wide   what belongs to no package: orphan directories, the root index, leftover staging
site_repair the repair of findings, through the journal like any change
checkpoints the test hooks of named steps (MR_CHASE_CRASH_AT, _FAIL_AT, _DELAY_AT)
ping        the readiness probe the role runs after a start (python -m mr_chase.ping)
"""
from __future__ import annotations

__version__ = "0.3.0"
