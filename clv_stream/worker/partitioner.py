"""Kafka's default key partitioning (Java ``Utils.murmur2``), vectorised over a batch of keys.

The producer of a batch-first sink picks partitions itself (it builds one record batch per
partition), so it needs the partitioner every Kafka client uses: ``toPositive(murmur2(key))
% partitions``, or records of one key would land on another partition than other producers
put them. aiokafka's ``murmur2`` is pure Python, a loop per key; this computes the
hashes of all keys of one length at once with numpy uint32 arithmetic (wrapping, as Java's
int arithmetic does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["murmur2", "partitions_for"]

_SEED = 0x9747B28C
_M = np.uint32(0x5BD1E995)
U32 = npt.NDArray[np.uint32]


def _mix(h: U32, words: U32) -> U32:
    for j in range(words.shape[1]):
        k = words[:, j] * _M
        k ^= k >> np.uint32(24)
        k *= _M
        h *= _M
        h ^= k
    return h


def _hash_same_length(keys: Sequence[bytes], length: int) -> U32:
    data = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), length)
    whole = length // 4 * 4
    words = np.ascontiguousarray(data[:, :whole]).view("<u4").astype(np.uint32)
    h = _mix(np.full(len(keys), (_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32), words)
    tail = length - whole
    if tail:
        for i in range(tail - 1, -1, -1):
            h ^= data[:, whole + i].astype(np.uint32) << np.uint32(8 * i)
        h *= _M
    h ^= h >> np.uint32(13)
    h *= _M
    h ^= h >> np.uint32(15)
    return h


def murmur2(keys: Sequence[bytes]) -> list[int]:
    """Java-compatible murmur2 of each key, as unsigned 32-bit integers."""
    result: list[int] = _murmur2(keys).tolist()
    return result


def _murmur2(keys: Sequence[bytes]) -> U32:
    lengths = np.fromiter(map(len, keys), dtype=np.intp, count=len(keys))
    first = int(lengths[0]) if len(keys) else 0
    if (lengths == first).all():  # ids of one length (the usual case): no grouping
        return _hash_same_length(keys, first)
    out = np.empty(len(keys), dtype=np.uint32)
    for length in np.unique(lengths).tolist():
        idx = np.flatnonzero(lengths == length)
        out[idx] = _hash_same_length([keys[i] for i in idx.tolist()], length)
    return out


def partitions_for(keys: Sequence[bytes], partitions: int) -> list[int]:
    """The partition Kafka's default partitioner gives each key (``toPositive(h) % n``)."""
    if not keys:
        return []
    hashes = _murmur2(keys) & np.uint32(0x7FFFFFFF)
    result: list[int] = (hashes % np.uint32(partitions)).tolist()
    return result
