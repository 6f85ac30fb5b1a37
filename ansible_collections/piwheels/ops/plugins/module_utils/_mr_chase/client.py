# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A ZeroMQ REQ client for Mr Chase that never waits longer than it was told.

This package (``_mr_chase``) is the client side of the Mr Chase import queue,
private to this collection: ``errors`` holds what can go wrong, ``codec`` the
wire format, ``client`` the ZeroMQ transport.  (Its ``__init__.py`` stays
empty, as ansible-core before 2.18 requires of module_utils packages.)

It follows the ZeroMQ Guide's "Lazy Pirate": one REQ socket serves a sequence
of requests, every send and receive is bounded by the timeout, and a socket
that missed a reply (or saw anything else go wrong) is closed with
``LINGER=0`` and replaced, because a REQ socket waiting for a reply can never
send again.  The original piwheels tool blocked forever when the master was
down; a playbook must fail within ``timeout`` instead.

The requests for many versions are pipelined instead: a DEALER socket keeps
several requests in flight, so Mr Chase never waits for the module between
two of them.  A REP (or ROUTER) Mr Chase answers one connection's requests in
order, so each reply is matched to its request by position, and the DEALER is
made for one sequence and closed with ``LINGER=0`` after it, so a late reply
can never be mistaken for another's.  Read-only STATUS requests go up to
``PIPELINE_DEPTH`` at a time (``statuses``); requests that change state
(REMOVE, FORGET, YANK, UNSKIP) only ``REMOVE_DEPTH`` (``change_all``), so that
after a failure at most one more change, already on its way, is carried out,
and the caller is told which.
"""

from __future__ import annotations

import os
import pwd
import stat
import time
import traceback

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import (
    COMMITTED_BUT_STALE,
    PACKAGE_OPTIONAL,
    PACKAGE_STATUS,
    SITE_STATUS,
    VERSION_OPTIONAL,
    VERSION_STATUS,
    InvalidReply,
    check_status,
    decode_reply,
    describe_frame,
    encode_request,
)
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import (
    MrChaseError,
    MrChaseProtocolError,
    MrChaseRequestError,
    MrChaseTimeout,
    MrChaseUnavailable,
)

try:
    import zmq
except ImportError:
    HAS_ZMQ = False
    ZMQ_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_ZMQ = True
    ZMQ_IMPORT_ERROR = None

__all__ = ("DEFAULT_SERVICE_USER", "HAS_ZMQ", "PIPELINE_DEPTH", "REMOVE_DEPTH", "ZMQ_IMPORT_ERROR", "MrChaseClient")

_IPC = "ipc://"
#: the user Mr Chase runs as unless told otherwise (the role's mr_chase_user)
DEFAULT_SERVICE_USER = "piwheels"
#: how many pipelined STATUS requests may wait in Mr Chase's queue at once
PIPELINE_DEPTH = 32
#: how many REMOVEs may be on their way at once: the one Mr Chase works on and the next
REMOVE_DEPTH = 2


class MrChaseClient:
    """Requests to one Mr Chase; use as a context manager so the socket is always closed."""

    def __init__(self, address, timeout, service_user=DEFAULT_SERVICE_USER):
        """``service_user`` is who must own an ipc socket file (root may too): see ``_check_ipc_endpoint``."""
        self.address = address
        self.timeout = float(timeout)
        self.service_user = service_user
        self._socket = None
        #: Mr Chase's words for each change that committed but left a page stale (the modules warn)
        self.unwritten_pages = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Drop the socket at once: LINGER=0, so nothing unsent keeps the process alive."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def ping(self):
        """Return Mr Chase's version string."""
        return self.pong()[0]

    def pong(self):
        """Return Mr Chase's version and its health object (codec.HEALTH): ``degraded`` reasons, if any,
        say that it answers but cannot serve changes."""
        reply = self._call("PONG", "PING")
        return reply[1], reply[2]

    def status(self, package, version=None):
        """Return the STATUS object of a package (version None) or of one of its versions."""
        shape = (PACKAGE_STATUS, PACKAGE_OPTIONAL) if version is None else (VERSION_STATUS, VERSION_OPTIONAL)
        return self._call("STATUS", "STATUS", package, version, shape=shape)[1]

    def site_status(self):
        """Return the whole site's STATUS object (codec.SITE_STATUS): what concerns no single package."""
        return self._call("STATUS", "STATUS", None, None, shape=(SITE_STATUS, None))[1]

    def pending(self, location):
        """Return PENDING's object for an archive location: ``files`` (at most codec.MAX_ARCHIVE_FILES
        [package, filename] pairs, oldest first) its archive hosts still serve, and their ``total``."""
        return self._call("PENDING", "PENDING", location)[1]

    def archived(self, location, files):
        """Tell Mr Chase that the archive hosts of ``location`` no longer serve ``files`` ([package, filename]
        pairs, at most codec.MAX_ARCHIVE_FILES); pairs not pending are ignored."""
        self._call("DONE", "ARCHIVED", location, [list(pair) for pair in files])

    def match(self, package, version=None):
        """Return the MATCH object: the stored version that ``version`` spells (PEP 440), or, when none does
        (or the package does not exist), the audit log's record of its removal and close names or versions."""
        return self._call("MATCH", "MATCH", package, version)[1]

    def statuses(self, package, versions):
        """Return {version: STATUS object} for several versions of a package, in the order asked, pipelined.

        The first version (in that order) that Mr Chase answers with ERROR
        raises MrChaseRequestError with its message, as ``status`` would.
        """
        versions = list(dict.fromkeys(versions))
        if not versions:
            return {}
        with _Pipeline(self, [encode_request("STATUS", package, version) for version in versions]) as pipe:
            received = [pipe.next_reply() for _version in versions]
        statuses = {}
        for index, version in enumerate(versions):
            status = self._check(received[index], "STATUS", "STATUS", (VERSION_STATUS, VERSION_OPTIONAL))[1]
            if status["version"] != version:
                why = f"answer for version {status['version']!r} in the place of {version!r}"
                raise MrChaseProtocolError(self.address, describe_frame(received[index]), why)
            statuses[version] = status
        return statuses

    def remove_all(self, package, versions, skip):
        """Remove versions one after the other, the next REMOVE sent while Mr Chase works on the one before.

        A generator: yields each version as Mr Chase confirms its removal (see ``change_all``).
        """
        versions = list(versions)
        return self.change_all(versions, [("REMOVE", package, version, skip) for version in versions])

    def change_all(self, labels, requests):
        """Send requests that change state, pipelined ``REMOVE_DEPTH`` deep; yield each one's label when DONE.

        ``labels`` name the requests for the caller (a version, say), one
        each, in order.  Yields them in order as Mr Chase confirms each
        request.  At the first failure no further request is sent; the one
        already on its way is still waited for, and the error raised says
        what happened to it: ``done_after`` (confirmed after the failure) or
        ``unanswered`` (sent, no reply: Mr Chase may have done it).
        """
        labels, requests = list(labels), list(requests)
        if not requests:
            return
        frames = [encode_request(*request) for request in requests]
        failure = None
        with _Pipeline(self, frames, REMOVE_DEPTH) as pipe:
            for index, label in enumerate(labels):
                if failure is not None and index >= pipe.sent:
                    break  # nothing more was sent after the failure
                try:
                    self._check(pipe.next_reply(), "DONE", requests[index][0])
                except (MrChaseTimeout, MrChaseUnavailable) as error:
                    failure = failure or error
                    failure.unanswered = labels[index : pipe.sent]
                    break
                except MrChaseError as error:
                    if failure is None:
                        failure = error
                        pipe.stop_sending()
                    continue
                if failure is None:
                    yield label
                else:
                    failure.done_after.append(label)
        if failure is not None:
            raise failure

    def remove(self, package, version, skip):
        """Remove a version; ``skip`` is False, True (default reason) or a reason string."""
        self._call("DONE", "REMOVE", package, version, skip)

    def skip(self, package, reason):
        """Mark the whole package skipped with ``reason`` (not empty: ``unskip`` clears the mark)."""
        self._call("DONE", "SKIP", package, reason)

    def unskip(self, package, version=None):
        """Clear the skip reason of a version, or of the package itself when ``version`` is None."""
        self._call("DONE", "UNSKIP", package, version)

    def yank(self, package, version, yanked):
        """Set (True) or clear (False) the PEP 592 yanked flag of a version."""
        self._call("DONE", "YANK", package, version, yanked)

    def forget(self, package, version):
        """Remove a version as REMOVE does, and its version row with it."""
        self._call("DONE", "FORGET", package, version)

    def delete(self, package):
        """Delete a whole package: every version, its rows, aliases, wheels and pages."""
        self._call("DONE", "DELETE", package)

    def _call(self, expected, *message, shape=None):
        """Send one request and return its decoded reply, which must be ``expected`` or ERROR.

        ``shape`` is the STATUS shape the reply's object must have: the
        required and the optional fields (codec.VERSION_STATUS and
        VERSION_OPTIONAL, or the PACKAGE_ ones).
        """
        frame = encode_request(*message)
        try:
            received = self._exchange(frame)
        except BaseException:
            self.close()
            raise
        return self._check(received, expected, message[0], shape)

    def _check(self, received, expected, request_type, shape=None):
        """Decode a reply frame to a request of ``request_type``; it must be ``expected`` or ERROR."""
        try:
            reply = decode_reply(received)
            if reply[0] == "ERROR" and expected == "DONE" and reply[1].startswith(COMMITTED_BUT_STALE):
                self.unwritten_pages.append(reply[1])  # the change happened: a success that leaves a warning
                return ["DONE"]
            if reply[0] == "ERROR":
                raise MrChaseRequestError(self.address, reply[1])
            if reply[0] != expected:
                raise InvalidReply(f"expected {expected} in answer to {request_type}")
            if shape is not None:
                check_status(reply[1], *shape)
        except InvalidReply as error:
            raise MrChaseProtocolError(self.address, describe_frame(received), str(error)) from None
        return reply

    def _exchange(self, frame):
        """Send a frame and wait for the reply frame, all within the timeout."""
        deadline = time.monotonic() + self.timeout
        sock = self._connect()
        try:
            sock.send(frame)
            if not sock.poll(_remaining_ms(deadline), zmq.POLLIN):
                raise MrChaseTimeout(self.address, self.timeout)
            return sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            raise MrChaseTimeout(self.address, self.timeout) from None
        except zmq.ZMQError as error:
            raise MrChaseUnavailable(self.address, f"cannot talk to Mr Chase at {self.address}: {error}") from None

    def _connect(self):
        """Return the open REQ socket, making a fresh one when the last was dropped."""
        if self._socket is None:
            self._check_ipc_endpoint()
            milliseconds = max(1, int(self.timeout * 1000))
            sock = zmq.Context.instance().socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, milliseconds)
            sock.setsockopt(zmq.RCVTIMEO, milliseconds)
            try:
                sock.connect(self.address)
            except zmq.ZMQError as error:
                sock.close(linger=0)
                raise MrChaseUnavailable(
                    self.address, f"cannot connect to Mr Chase at {self.address}: {error}"
                ) from None
            self._socket = sock
        return self._socket

    def _check_ipc_endpoint(self):
        """Refuse an ipc socket file that is missing, forbidden, not a socket or not Mr Chase's.

        ZeroMQ connects lazily, so without this check a missing or forbidden
        file looks like "did not answer within 30 s", which sends the
        operator looking at the service rather than at the path or at
        ``become``.  The owner check is the client's half of the access
        control: anyone may bind a path in a shared directory first, and a
        fake server would be told what to remove and could answer DONE.
        """
        if not self.address.startswith(_IPC):
            return
        path = self.address[len(_IPC) :]
        if path.startswith("@"):
            raise MrChaseUnavailable(
                self.address,
                f"{self.address} is an abstract socket, which no file mode or owner protects (anyone on the host "
                "could answer in Mr Chase's name); Mr Chase refuses it too: use its socket file, such as "
                "ipc:///run/mr-chase/queue",
            )
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise MrChaseUnavailable(
                self.address,
                f"no Mr Chase socket at {path} (is the service running?); import_queue: {self.address}",
            ) from None
        except PermissionError:
            raise MrChaseUnavailable(self.address, _permission_message(path, self.address)) from None
        if not stat.S_ISSOCK(info.st_mode):
            raise MrChaseUnavailable(self.address, f"{path} is not a socket: is import_queue ({self.address}) right?")
        self._check_owner(path, info.st_uid)
        if not os.access(path, os.W_OK):
            raise MrChaseUnavailable(self.address, _permission_message(path, self.address))

    def _check_owner(self, path, uid):
        """The socket file must belong to the service user or root, whoever runs the task."""
        expected = _uid_of(self.service_user)
        if uid in (0, expected):
            return
        wanted = f"uid {expected}" if expected is not None else "no such user"
        raise MrChaseUnavailable(
            self.address,
            f"refusing to talk to {path}: the socket is owned by {_name_of(uid)} (uid {uid}), not by the "
            f"service user {self.service_user} ({wanted}) or root, so it may not be Mr Chase; "
            f"check import_queue ({self.address}) and service_user",
        )


def _uid_of(user):
    """The uid of a user name, or None when the host has no such user."""
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _name_of(uid):
    """The user name of a uid, or ``?`` when it has none (a uid without a passwd entry)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "?"


class _Pipeline:
    """A DEALER socket for one sequence of requests, with up to ``depth`` of them in flight.

    ``next_reply`` returns the reply frames in the order of the requests:
    each must come within the timeout of the one before it (or of the first
    send), as each answer of a one-at-a-time exchange must.
    """

    def __init__(self, client, frames, depth=PIPELINE_DEPTH):
        self.client = client
        self.frames = list(frames)
        self.depth = depth
        self.sent = 0
        self.received = 0
        self._socket = None

    def __enter__(self):
        self.client._check_ipc_endpoint()
        self._socket = zmq.Context.instance().socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        try:
            self._socket.connect(self.client.address)
        except zmq.ZMQError as error:
            self._socket.close(linger=0)
            raise MrChaseUnavailable(
                self.client.address, f"cannot connect to Mr Chase at {self.client.address}: {error}"
            ) from None
        return self

    def __exit__(self, *exc_info):
        self._socket.close(linger=0)

    def stop_sending(self):
        """Send nothing more; the replies to what was sent can still be read."""
        del self.frames[self.sent :]

    def next_reply(self):
        address, timeout = self.client.address, self.client.timeout
        deadline = time.monotonic() + timeout
        try:
            while self.sent < len(self.frames) and self.sent - self.received < self.depth:
                self._socket.send_multipart([b"", self.frames[self.sent]], zmq.NOBLOCK)
                self.sent += 1
            if not self._socket.poll(_remaining_ms(deadline), zmq.POLLIN):
                raise MrChaseTimeout(address, timeout)
            reply = _unwrap(self._socket.recv_multipart(zmq.NOBLOCK), address)
        except zmq.Again:
            raise MrChaseTimeout(address, timeout) from None
        except zmq.ZMQError as error:
            raise MrChaseUnavailable(address, f"cannot talk to Mr Chase at {address}: {error}") from None
        self.received += 1
        return reply


def _unwrap(frames, address):
    """The reply frame inside a DEALER's envelope (an empty delimiter frame, then the reply)."""
    if len(frames) != 2 or frames[0] != b"":
        shown = describe_frame(b"".join(frames[-1:]))
        raise MrChaseProtocolError(address, shown, f"expected one frame after the envelope, got {len(frames)} frames")
    return frames[1]


def _permission_message(path, address):
    return (
        f"permission denied on {path}: run the task as the service user or a member of its group (become), "
        f"or widen mr_chase_socket_mode; import_queue: {address}"
    )


def _remaining_ms(deadline):
    """Milliseconds left until ``deadline``; at least 1, because poll(0) would not wait at all."""
    return max(1, int((deadline - time.monotonic()) * 1000))
