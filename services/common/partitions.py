"""The partition a record's key lands in, as every producer of the platform picks it.

All of them use Java's partitioner (murmur2; librdkafka's ``murmur2_random``,
aiokafka's default), so a key means the same partition to the router, the
worker, the gateway and Faust's table changelogs.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``partitions`` a record keyed ``key`` is written to."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
