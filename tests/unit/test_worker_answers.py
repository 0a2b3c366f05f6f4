"""A later copy of a task is answered with the outcome of the copy the worker ran."""

from __future__ import annotations

import asyncio

from services.worker.answers import Answers


def test_the_first_copy_runs_and_a_later_one_gets_its_outcome() -> None:
    async def main() -> None:
        answers = Answers()
        assert answers.claim(("r", 0)) is None  # the first copy: run it
        later = answers.claim(("r", 0))
        assert later is not None
        assert not later.done()
        answers.written(("r", 0), b"outcome")
        assert await later == b"outcome"
        again = answers.claim(("r", 0))  # a copy read after the outcome was written
        assert again is not None
        assert await again == b"outcome"
        assert answers.claim(("r", 1)) is None  # another task of the run is its own

    asyncio.run(main())


def test_an_abandoned_copy_answers_none_and_the_next_copy_runs() -> None:
    async def main() -> None:
        answers = Answers()
        assert answers.claim(("r", 0)) is None
        waiting = answers.claim(("r", 0))
        answers.abandoned(("r", 0))
        assert waiting is not None
        assert await waiting is None
        assert answers.claim(("r", 0)) is None

    asyncio.run(main())


def test_outcomes_beyond_the_budget_are_forgotten_oldest_first() -> None:
    async def main() -> None:
        answers = Answers(budget_bytes=25, most=100)
        for seq in range(4):
            assert answers.claim(("r", seq)) is None
        running = answers.claim(("r", 3))  # still under way: never forgotten
        for seq in range(3):
            answers.written(("r", seq), b"x" * 10)
        assert answers.bytes == 20
        assert answers.claim(("r", 0)) is None, "forgotten: a copy of it runs again"
        answers.written(("r", 3), b"y" * 5)
        assert running is not None
        assert await running == b"y" * 5
        kept = answers.claim(("r", 2))
        assert kept is not None
        assert await kept == b"x" * 10

    asyncio.run(main())


def test_at_most_so_many_outcomes_are_kept() -> None:
    async def main() -> None:
        answers = Answers(budget_bytes=1000, most=2)
        for seq in range(3):
            answers.claim(("r", seq))
            answers.written(("r", seq), b"o")
        assert answers.claim(("r", 0)) is None
        assert answers.claim(("r", 2)) is not None

    asyncio.run(main())


def test_a_second_write_or_a_late_abandon_changes_nothing() -> None:
    async def main() -> None:
        answers = Answers()
        answers.claim(("r", 0))
        answers.written(("r", 0), b"first")
        answers.written(("r", 0), b"second")
        answers.abandoned(("r", 0))
        kept = answers.claim(("r", 0))
        assert kept is not None
        assert await kept == b"first"
        assert answers.bytes == len(b"first")

    asyncio.run(main())
