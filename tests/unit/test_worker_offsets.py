"""The worker's offset book: commit only up to the oldest unfinished task."""

from __future__ import annotations

from services.worker.offsets import OffsetBook

P0 = ("weir.fn.shop.a", 0)
P1 = ("weir.fn.shop.a", 1)


def test_nothing_is_committable_before_anything_was_received() -> None:
    assert OffsetBook().advanced() == []


def test_the_commit_point_is_the_oldest_unfinished_offset() -> None:
    book = OffsetBook()
    for offset in (10, 11, 12, 13):
        book.received(P0, offset)
    assert book.advanced() == [(P0, 10)]  # nothing done: a restart re-reads from 10
    book.done(P0, 12)
    book.done(P0, 11)
    assert book.advanced() == []  # 10 still runs, so 11 and 12 may not be committed
    book.done(P0, 10)
    assert book.advanced() == [(P0, 13)]
    book.done(P0, 13)
    assert book.advanced() == [(P0, 14)]
    assert book.advanced() == []  # reported once
    assert len(book) == 0


def test_partitions_advance_independently() -> None:
    book = OffsetBook()
    book.received(P0, 0)
    book.received(P1, 5)
    book.received(P1, 6)
    book.advanced()
    book.done(P1, 5)
    assert book.advanced() == [(P1, 6)]
    assert book.pending(P0) == {0}
    assert len(book) == 2


def test_dropped_partitions_are_forgotten_and_late_done_notes_ignored() -> None:
    book = OffsetBook()
    book.received(P0, 3)
    book.received(P1, 7)
    book.drop([P0])
    book.done(P0, 3)  # a task of a revoked partition finishing later
    assert book.advanced() == [(P1, 7)]
    assert book.pending(P0) == set()
    book.received(P0, 3)  # assigned again: delivered anew
    assert book.advanced([P0]) == [(P0, 3)]


def test_advanced_can_be_limited_to_some_partitions() -> None:
    book = OffsetBook()
    book.received(P0, 1)
    book.received(P1, 1)
    book.done(P0, 1)
    book.done(P1, 1)
    assert book.advanced([P1]) == [(P1, 2)]
    assert book.advanced() == [(P0, 2)]
