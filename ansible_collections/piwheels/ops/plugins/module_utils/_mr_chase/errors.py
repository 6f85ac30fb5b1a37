# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Everything that can go wrong talking to Mr Chase, as one exception family.

The modules catch ``MrChaseError`` alone and turn it into one ``fail_json``;
each subclass words its message for the operator who reads it in a play.
"""

from __future__ import annotations

__all__ = (
    "MrChaseError",
    "MrChaseProtocolError",
    "MrChaseRequestError",
    "MrChaseTimeout",
    "MrChaseUnavailable",
)


class MrChaseError(Exception):
    """Base class: the request did not get the answer it asked for."""

    def __init__(self, address, message):
        super().__init__(message)
        self.address = address
        #: set by pipelined removals: versions confirmed removed after this failure
        self.done_after = []
        #: set by pipelined removals: versions sent but not answered (Mr Chase may have removed them)
        self.unanswered = []


class MrChaseUnavailable(MrChaseError):
    """Mr Chase cannot be reached at all (no socket, no permission, transport error)."""


class MrChaseTimeout(MrChaseError):
    """Mr Chase did not answer in time; the service is down, stuck or overloaded."""

    def __init__(self, address, timeout):
        super().__init__(address, f"Mr Chase did not answer within {timeout:g} s at {address}")
        self.timeout = timeout


class MrChaseProtocolError(MrChaseError):
    """The reply did not follow the protocol; ``reply`` is what came back, for the message."""

    def __init__(self, address, reply, why):
        super().__init__(address, f"unexpected reply from Mr Chase at {address}: {reply} ({why})")
        self.reply = reply
        self.why = why


class MrChaseRequestError(MrChaseError):
    """Mr Chase answered ``["ERROR", message]``; ``message`` is its own words, kept verbatim."""

    def __init__(self, address, message):
        super().__init__(address, message)
        self.message = message
