# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which stored versions a task means, as Mr Chase answers it (MATCH); the modules parse no version themselves.

A task may spell a version otherwise than the database (1.1.0 or v1.1 for
1.1) or mistype it (1.20).  Mr Chase matches spellings by PEP 440 equality
with the ``packaging`` library in its own virtual environment, so the
modules need nothing on the master's interpreter, and the order of versions
they report is the one STATUS gives (piw-master's).  A version that matches
nothing is "already forgotten" only when Mr Chase's audit log records that
it was; otherwise it is unknown, and the message says what was probably
meant.
"""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError, MrChaseRequestError

__all__ = ("Matching", "is_unknown_package", "match_versions", "package_status_of", "unknown_package_message",
           "unknown_version_message")


class Matching:
    """The requested versions sorted out: ``stored`` (the database's spellings, in the order asked),
    ``matched`` (asked -> stored, for other spellings) and ``absent`` (asked -> MATCH object)."""

    def __init__(self):
        self.stored = []
        self.matched = {}
        self.absent = {}

    @property
    def removed(self) -> dict:
        """The absent versions the audit log says were removed: asked -> {request, version, time}."""
        return {asked: match["removed"] for asked, match in self.absent.items() if match["removed"]}

    @property
    def unknown(self) -> dict:
        """The absent versions nothing records: asked -> what was probably meant."""
        return {asked: match["close"] for asked, match in self.absent.items() if not match["removed"]}


def match_versions(client, package_status: dict, versions: list[str]) -> Matching:
    """Sort the requested versions out; only a spelling STATUS does not list costs a request (MATCH)."""
    matching = Matching()
    for asked in versions:
        if asked in package_status["versions"]:
            stored = asked
        else:
            match = client.match(package_status["package"], asked)
            stored = match["matched"]
            if stored is None:
                matching.absent[asked] = match
                continue
            matching.matched[asked] = stored
        if stored not in matching.stored:
            matching.stored.append(stored)
    return matching


def unknown_version_message(package: str, asked: str, match: dict, stored: list[str]) -> str:
    """Why ``asked`` names no version of ``package``: the record of its removal, or the versions it has."""
    removed = match["removed"]
    if removed:
        what = "forgotten" if removed["request"] == "FORGET" else f"deleted with the package {package}"
        spelled = f" (as {removed['version']})" if removed["version"] not in (None, asked) else ""
        return f"{package} {asked} was {what} at {removed['time']}{spelled}"
    message = (f"{package} has no version {asked} and there is no record of forgetting it; "
               f"{package} has {', '.join(stored) or 'no versions'}")
    return message + (f"; did you mean {' or '.join(match['close'])}?" if match["close"] else "")


def is_unknown_package(message: str) -> bool:
    """Whether an ERROR from Mr Chase says the package does not exist (and nothing else went wrong)."""
    return message.startswith("unknown package ") and not message.startswith("unknown package version ")


def package_status_of(client, package: str) -> dict:
    """The package's STATUS; for a package Mr Chase does not know, an error with the record of its
    deletion or close names (MATCH)."""
    try:
        return client.status(package)
    except MrChaseRequestError as error:
        if is_unknown_package(error.message):
            message = unknown_package_message(package, client.match(package))
            raise MrChaseError(client.address, message) from None
        raise


def unknown_package_message(name: str, match: dict) -> str:
    """``piwheels has no package gamam ...; did you mean gamma?``, or when it was deleted."""
    package = match["package"]
    spelled = f" ({package} as PEP 503 normalises it)" if package != name else ""
    removed = match["removed"]
    if removed:
        return f"piwheels has no package {name}{spelled}: it was deleted at {removed['time']}"
    message = f"piwheels has no package {name}{spelled} and there is no record of deleting it"
    return message + (f"; did you mean {' or '.join(match['close'])}?" if match["close"] else "")
