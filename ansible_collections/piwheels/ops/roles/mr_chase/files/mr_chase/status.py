"""What Mr Chase reports of itself and of the site without changing anything: STATUS, MATCH, PENDING, metrics.

A package's or a version's STATUS and MATCH cost one query; the whole
site's STATUS, PENDING and the metrics' sample are read from memory (the
ledger, the outbox, the journal, the audit job), so monitoring and the
runbooks may ask them as often as PING.  Each concern that keeps a
site-wide state adds its own field here; none of these answers takes the
journal's slot or waits on a change.
"""

from __future__ import annotations

from typing import Any

from .audit_job import Audits
from .audit_log import AuditLog
from .database import Database
from .health import Health
from .journal import Journal
from .ledger import STALE_PAGE, ArchivePending, Ledger, StalePages
from .matching import match
from .notifier import MasterNotifier
from .protocol import MAX_ARCHIVE_FILES, normalise_location
from .versions import version_key


def locations_of(archived: dict[str, str] | None) -> dict[str, str]:
    """STATUS's ``archive_locations``: {archived file: its location}, each location without a trailing slash."""
    return {filename: normalise_location(location) for filename, location in (archived or {}).items()}


class Status:
    def __init__(self, db: Database, journal: Journal, ledger: Ledger, stale: StalePages, archives: ArchivePending,
                 notifier: MasterNotifier, audit: AuditLog, audits: Audits, health: Health):
        self.db, self.journal, self.notifier, self.audit, self.audits = db, journal, notifier, audit, audits
        self.ledger, self.stale, self.archives, self.health = ledger, stale, archives, health

    def of(self, package: str, version: str | None) -> dict[str, Any]:
        """STATUS of a package or of one of its versions: one query (one round trip to PostgreSQL)."""
        with self.db.guard():
            if version is None:
                status = self.db.package_status(package)
                return {"package": package, "skip": status.skip, "versions": sorted(status.versions, key=version_key),
                        "yanked": sorted(status.yanked, key=version_key), "builds": status.builds,
                        "file_count": status.file_count, "archived_count": status.archived_count,
                        "downloads": status.downloads, "aliases": status.aliases,
                        "site_refresh": self.notifier.enabled, "settling": self.settling(package, None),
                        "stale_pages": self.stale.of(package),
                        "archive_locations": locations_of(status.archive_locations)}
            skip, yanked, builds, files, archived, downloads, locations = self.db.version_status(package, version)
            return {"package": package, "version": version, "skip": skip, "yanked": yanked,
                    "builds": builds, "files": files, "archived": archived, "downloads": downloads,
                    "site_refresh": self.notifier.enabled, "settling": self.settling(package, version),
                    "stale_pages": self.stale.of(package), "archive_locations": locations_of(locations)}

    def site(self) -> dict[str, Any]:
        """``["STATUS", null, null]``: what concerns the whole site rather than one package, from memory only
        (no query)."""
        return {"stale_pages": sorted(path for entry in self.ledger.entries(STALE_PAGE).values()
                                      for path in entry.get("paths", ())),
                "parked_notices": self.notifier.parked, "site_refresh": self.notifier.enabled,
                "settling": self.journal.exists(), "outbox": self.notifier.state(), "audit": self.audits.site_status(),
                "archives": {location: {"pending": count} for location, count in self.archives.counts().items()}}

    def pending(self, location: str) -> dict[str, Any]:
        """PENDING: the oldest MAX_ARCHIVE_FILES files the archive hosts of ``location`` still serve, and how
        many there are in all (from memory: the ledger is read once)."""
        files = self.archives.pending(location)
        return {"location": location, "files": files[:MAX_ARCHIVE_FILES], "total": len(files)}

    def match(self, package: str, version: str | None) -> dict[str, Any]:
        """MATCH: read-only, like STATUS (matching.py)."""
        with self.db.guard():
            return match(self.db, self.audit, package, version)

    def settling(self, package: str, version: str | None) -> bool:
        """Whether a removal of the package (that version, if given) awaits the database's word on its outcome."""
        entry = self.journal.pending() if self.journal.exists() else None
        if entry is None or entry.package != package:
            return False
        return entry.kind == "package" or version in (None, entry.version)

    def metrics_sample(self) -> dict[str, Any]:
        """What the metrics file reports of the service's state (read on the metrics thread; no query)."""
        queued, oldest_age = self.notifier.backlog()
        return {"degraded": self.health.causes(), "journal_pending": self.journal.exists(),
                "outbox_queued": queued, "outbox_oldest_age": oldest_age,
                "stale_pages": self.ledger.count(STALE_PAGE), "parked_notices": self.notifier.parked,
                "archive_pending": self.archives.counts()}
