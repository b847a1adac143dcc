"""The vectorised partitioner agrees with Kafka's default (aiokafka's pure-Python murmur2)."""

from __future__ import annotations

import os
import random

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given
from hypothesis import strategies as st

from clv_stream.worker.partitioner import murmur2 as murmur2_batch
from clv_stream.worker.partitioner import partitions_for


@given(st.lists(st.binary(max_size=64), max_size=50))
def test_murmur2_equals_kafkas(keys: list[bytes]) -> None:
    assert murmur2_batch(keys) == [murmur2(k) & 0xFFFFFFFF for k in keys]


def test_partitions_equal_the_default_partitioner() -> None:
    rnd = random.Random(5)
    keys = [os.urandom(rnd.randint(1, 40)) for _ in range(3000)] + [f"c-{i}".encode() for i in range(3000)]
    for n in (1, 3, 4, 12):
        parts = list(range(n))
        expected = [DefaultPartitioner()(k, parts, parts) for k in keys]
        assert partitions_for(keys, n) == expected
