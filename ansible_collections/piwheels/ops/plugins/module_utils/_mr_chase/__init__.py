# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The client side of the Mr Chase import queue (protocol version 1).

Private to this collection: the modules import it, nothing outside should.
``errors`` holds what can go wrong, ``codec`` the wire format, ``client`` the
ZeroMQ transport.
"""

from __future__ import annotations

__all__ = ("client", "codec", "errors")
