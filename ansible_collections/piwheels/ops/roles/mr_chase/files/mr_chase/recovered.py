"""What a change settled by recovery still owes: its audit record and piw-master's notice, once each.

A change whose outcome was unknown (a crash, a connection lost at COMMIT)
and turned out committed is settled by the journal (journal.py), which calls
:meth:`RecoveredChanges.committed` before it lets the entry go.  The request
that made the change may never have been answered, so its audit record and
its notice may be missing, or may not: both carry the entry's token, and
whatever the audit log already holds is not repeated, however many recovery
passes it takes.
"""

from __future__ import annotations

from .audit_log import AuditLog
from .journal import Entry
from .notifier import MasterNotifier, rebuild_search, remove_version, rewrite_pages
from .tree import Tree

#: the request a recovered journal entry of each kind (but a package's or a repair's) came from
RECOVERED_REQUESTS = {"remove": "REMOVE", "forget": "FORGET", "page": "YANK"}


def sent(record: dict, notice: list) -> bool:
    """Whether an audit record says piw-master was sent ``notice`` (or the same notice of that change:
    a recovered REMOVE's notice may carry another skip reason)."""
    request, outcome = record.get("request"), record.get("outcome", "")
    return (isinstance(request, list) and request[:2] == ["NOTIFY", notice[0]] and len(request) == 3
            and isinstance(request[2], list) and request[2][:2] == notice[1][:2]
            and (outcome == "delivered" or outcome.startswith("refused")))


def request_and_notice(entry: Entry) -> tuple[list, list | None]:
    """The audit request and the notice of a recovered entry, as the service would have made them."""
    if entry.kind == "package":
        return ["DELETE", entry.package], rebuild_search()
    if entry.kind == "repair":
        request = ["REPAIR", entry.package or None, sorted(entry.counts)]
        if entry.package:
            return request, rewrite_pages(entry.package)
        return request, rebuild_search() if entry.temp_page else None
    request = [RECOVERED_REQUESTS[entry.kind], entry.package, entry.version]
    return request, (remove_version(entry.package, entry.version, "") if entry.kind == "remove"
                     else rewrite_pages(entry.package))


class RecoveredChanges:
    def __init__(self, tree: Tree, audit: AuditLog, notifier: MasterNotifier):
        self.tree, self.audit, self.notifier = tree, audit, notifier

    def committed(self, entry: Entry) -> None:
        """Audit the recovered change and tell piw-master, unless that was done already.

        Raises OSError when the notice cannot be queued (a full disk): the
        journal stays until it can, so the notice is never lost."""
        request, notice = request_and_notice(entry)
        # a page rewrite is recovered whichever way its change went: the page now says what the database says
        outcome = "page rewritten by recovery" if entry.kind == "page" else "done (settled by recovery)"
        trail = self.audit.trail(entry.token)
        if trail is None:
            counts = {"counts": entry.counts, "repaired": sum(entry.counts.values())} if entry.kind == "repair" else {}
            self.audit.record(request, outcome, package=entry.package, version=entry.version, token=entry.token,
                              moved=[self.tree.relative(original) for original, _staged in entry.moves], **counts)
        if notice is not None and not any(sent(record, notice) for record in trail or ()):
            self.notifier.submit(notice, key=entry.token)

    def set_aside(self, path: str, reason: str) -> None:
        """Recovery set a path aside (it could not tell what it was): the audit log says so."""
        self.audit.record(["SET-ASIDE", path], "set aside", reason=reason)
