"""The site audit's scanner: the database and the served tree, compared package by package.

(First step: the packages are streamed in name order; the comparisons follow.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg

from .findings import Finding
from .protocol import canonicalize
from .tree import Tree


@dataclass
class Scanned:
    packages: int = 0
    files: int = 0
    bytes_hashed: int = 0


class SiteScan:
    def __init__(self, dsn: str, tree: Tree, options: dict, should_stop: Callable[[], bool]):
        self._dsn, self._tree, self._options, self._should_stop = dsn, tree, options, should_stop
        self.scanned = Scanned()
        packages = options["packages"]
        self._packages = None if packages is None else sorted({canonicalize(name) for name in packages})
        self.packages_total = None if packages is None else len(self._packages)

    def run(self) -> Iterator[tuple[str | None, list[Finding]]]:
        with psycopg.connect(self._dsn) as conn:
            conn.read_only = True
            names = [row[0] for row in conn.execute('SELECT package FROM packages ORDER BY package COLLATE "C"')]
        for package in names if self._packages is None else self._packages:
            if self._should_stop():
                return
            self.scanned.packages += 1
            yield package, []
        yield None, []
