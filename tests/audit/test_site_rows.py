"""The scan's read-ahead (site_rows.read_ahead): every batch in order, each read on a thread of its own while the
one before is compared, no read left running when the scan stops early, and a read that fails fails the scan."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from mr_chase.site_rows import read_ahead


def numbered(count: int, read: list, fail_at: int | None = None):
    """Batches [0] ... [count - 1], recording which thread read each."""
    for number in range(count):
        if number == fail_at:
            raise RuntimeError(f"batch {number} cannot be read")
        read.append((number, threading.current_thread()))
        yield [number]


def test_every_batch_comes_in_order_read_on_a_thread_of_its_own():
    read: list = []
    assert list(read_ahead(numbered(5, read), lambda: False)) == [[0], [1], [2], [3], [4]]
    assert [number for number, _thread in read] == [0, 1, 2, 3, 4]
    assert all(thread is not threading.current_thread() for _number, thread in read)


def test_a_scan_that_stops_leaves_no_read_running_and_reads_one_batch_ahead_at_most():
    read: list = []
    batches = read_ahead(numbered(5, read), lambda: False)
    assert next(batches) == [0]
    batches.close()  # the scan stopped: the read under way ends before close returns, and none follows
    assert [number for number, _thread in read] == [0, 1]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("mr-chase-audit-rows")]


def test_a_read_that_fails_fails_the_scan_after_the_batches_before_it():
    read: list = []
    batches = read_ahead(numbered(5, read, fail_at=2), lambda: False)
    assert next(batches) == [0]
    assert next(batches) == [1]
    with pytest.raises(RuntimeError, match="batch 2 cannot be read"):
        next(batches)


def test_no_batch_is_read_while_the_scan_gives_way_to_a_request():
    read: list = []
    asked, quiet = threading.Event(), threading.Event()

    def give_way():
        asked.set()
        assert quiet.wait(10)

    batches = read_ahead(numbered(2, read), give_way)
    with ThreadPoolExecutor(1) as consumer:
        first = consumer.submit(next, batches)
        assert asked.wait(10)
        assert read == []  # the reader waits for the request to be served before it reads
        quiet.set()
        assert first.result(10) == [0]
    assert list(batches) == [[1]]
