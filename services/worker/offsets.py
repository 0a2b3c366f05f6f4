"""Which offsets may be committed when tasks finish out of order.

Tasks of one partition run concurrently and finish in any order, but a
Kafka commit is one number per partition: "everything before this is done".
The book keeps, per partition, the offsets handed out and not yet done; the
commit point is the lowest of them (or one past the highest offset seen when
none is pending). A worker that dies re-reads from there, so exactly the
unfinished tasks (and the finished ones after the oldest unfinished one,
which at-least-once allows) come back; nothing done before is lost.

Not thread-safe: the consumer thread owns it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

Partition = tuple[str, int]


@dataclass(slots=True)
class _Progress:
    pending: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest offset handed out
    committed: int | None = None  # the last commit point sent

    def point(self) -> int | None:
        return min(self.pending) if self.pending else self.next_offset


class OffsetBook:
    def __init__(self) -> None:
        self._parts: dict[Partition, _Progress] = {}

    def received(self, partition: Partition, offset: int) -> None:
        progress = self._parts.setdefault(partition, _Progress())
        progress.pending.add(offset)
        if progress.next_offset is None or offset >= progress.next_offset:
            progress.next_offset = offset + 1

    def done(self, partition: Partition, offset: int) -> None:
        """Mark one offset done; unknown ones (a partition dropped since) are ignored."""
        progress = self._parts.get(partition)
        if progress is not None:
            progress.pending.discard(offset)

    def advanced(
        self, partitions: Iterable[Partition] | None = None
    ) -> list[tuple[Partition, int]]:
        """Partitions whose commit point moved since the last call, with that point.

        The points returned count as committed: a commit that then fails only
        means those tasks may be delivered again, which at-least-once allows.
        """
        chosen = self._parts if partitions is None else partitions
        moved: list[tuple[Partition, int]] = []
        for partition in chosen:
            progress = self._parts.get(partition)
            if progress is None:
                continue
            point = progress.point()
            if point is not None and (progress.committed is None or point > progress.committed):
                progress.committed = point
                moved.append((partition, point))
        return moved

    def drop(self, partitions: Iterable[Partition]) -> None:
        """Forget partitions this worker no longer owns."""
        for partition in partitions:
            self._parts.pop(partition, None)

    def pending(self, partition: Partition) -> set[int]:
        progress = self._parts.get(partition)
        return set(progress.pending) if progress else set()

    def __len__(self) -> int:
        return sum(len(progress.pending) for progress in self._parts.values())
