# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every plan of a module shares: worked out from STATUS alone, then carried out.

A plan is made from the STATUS answers before anything is sent that changes
state, so check mode and a real run report the same thing, and ``changed``
is what the plan says would change.  Each operation has a plan of its own
(``removal``: REMOVE and FORGET; ``marks``: YANK and UNSKIP; ``package``:
DELETE); this module holds what they share: the site-refresh warning, the
wording of counts, and the message of a run that failed half way.
"""

from __future__ import annotations

import time

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError

#: seconds between two site STATUS requests while the notice is still ``sending``, doubling up to the most
SENDING_POLL_FIRST, SENDING_POLL_MOST = 0.05, 0.5

__all__ = ("BasePlan", "count", "failure_message", "notice_of", "settling_error", "versions_of")


class BasePlan:
    """The parts of a plan that do not depend on the operation.

    Subclasses set ``package``, ``site_refresh`` and ``changed`` and say in
    ``stale_pages`` what the project pages still show when no piw-master is
    told to rewrite them.
    """

    package = ""
    site_refresh = False
    #: what the project pages and JSON API still show when they were not rewritten
    stale_pages = "so they do not show this change"
    #: pages of the package Mr Chase could not write after a committed change (STATUS ``stale_pages``),
    #: and Mr Chase's words for each change of this run that left one
    unwritten = ()
    unwritten_now = ()

    @property
    def changed(self) -> bool:
        raise NotImplementedError

    def warnings(self, check_mode: bool) -> list[str]:
        """Why the site is stale after the task, when it will be: a page Mr Chase could not write (a
        warning, not a failure: the change happened and a rerun could not undo it), or no piw-master told."""
        warnings = [f"{self.package}: Mr Chase {message}" for message in self.unwritten_now]
        if self.unwritten and not self.unwritten_now:
            warnings.append(f"{self.package}: {', '.join(self.unwritten)} could not be written by an earlier change "
                            "and still lists what it removed; fix the file (chattr -i, a directory in its place) "
                            "and the next change of the package rewrites it")
        if not self.changed or self.site_refresh:
            return warnings
        were = "would not be" if check_mode else "were not"
        return warnings + [
            f"the project pages and JSON API of {self.package} {were} refreshed: Mr Chase has no piw-master "
            f"to notify (mr_chase_master_queue is not set), {self.stale_pages}"
        ]

    def header(self) -> str:
        return f"{self.package} (Mr Chase)"

    def diff_of(self, before: list[str], after: list[str]) -> dict:
        """Ansible's diff from lists of lines, one fact a line."""
        return dict(
            before="".join(line + "\n" for line in before),
            after="".join(line + "\n" for line in after),
            before_header=self.header(),
            after_header=self.header(),
        )


def notice_of(client, plan, acted: bool) -> str:
    """What became of the notice that tells piw-master of this task's change: ``none`` when no notice was
    sent (nothing changed, check mode, no piw-master configured; no round trip then), else the fate Mr Chase
    reports in its site STATUS (codec.NOTICES): ``delivered`` only once piw-master took it.

    Mr Chase says ``sending`` while the notice's first delivery attempt lasts (at most its master_timeout),
    and is asked again until it is over, within the client's timeout; then ``queued`` means that piw-master
    did not take it (it is down or busy) and Mr Chase keeps retrying.  Should the last notice be another
    change's (another client came between), the outbox says it: ``queued`` while anything waits.
    ``unknown`` when Mr Chase could not be asked (it stopped after the change)."""
    if not (acted and plan.changed and plan.site_refresh):
        return "none"
    try:
        outbox = _outbox_once_sent(client)
    except MrChaseError:  # the change is done all the same: not a failure of the task (the module warns)
        return "unknown"
    last = outbox["last"]
    if last is not None and last["package"] in (plan.package, None) and last["notice"] != "sending":
        return last["notice"]
    return "queued" if outbox["queued"] else "delivered"


def _outbox_once_sent(client):
    """The site STATUS's outbox once the last notice is no longer ``sending`` (or the client's timeout is
    over: it still waits in the outbox then)."""
    deadline, pause = time.monotonic() + client.timeout, SENDING_POLL_FIRST
    outbox = client.site_status()["outbox"]
    while outbox["last"] is not None and outbox["last"]["notice"] == "sending" and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, SENDING_POLL_MOST)
        outbox = client.site_status()["outbox"]
    return outbox


def count(number: int, noun: str) -> str:
    """``1 build``, ``2 builds``; ``2 aliases`` (a noun ending in s takes -es)."""
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {noun}es" if noun.endswith("s") else f"{number} {noun}s"


def versions_of(package: str, versions: list[str]) -> str:
    return ", ".join(f"{package} {version}" for version in versions)


def settling_error(client, package: str, unsettled: list[str]) -> MrChaseError:
    """The error for a change Mr Chase has not settled yet: STATUS cannot be trusted to say what is left."""
    return MrChaseError(
        client.address,
        f"a removal of {package} {', '.join(unsettled) or '(a version)'} is still being settled: Mr Chase lost "
        "the database while it committed and settles it as soon as the database answers; run the task again "
        "then (nothing was changed by this task)",
    )


def failure_message(error: MrChaseError, package: str, done: list[str]) -> str:
    """The error, and what the task did all the same: an operator must know what is already gone."""
    notes = []
    if done:
        notes.append(f"already done before the failure: {', '.join(done)}")
    if error.done_after:
        notes.append(f"also done, already sent when it failed: {versions_of(package, error.done_after)}")
    if error.unanswered:
        notes.append(f"sent but not answered, so perhaps done: {versions_of(package, error.unanswered)}")
    return f"{error} ({'; '.join(notes)})" if notes else str(error)
