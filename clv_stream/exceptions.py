"""The exception tree of clv-stream.

    ClvStreamError
    ├── ConfigError            bad settings, found at start-up
    ├── InvalidEvent           one input event rejected (carries a machine-readable code)
    ├── StoreError             Redis failed; adapters translate redis-py errors here
    │   ├── StoreUnavailable   Redis unreachable or refusing for now (the worker waits)
    │   ├── Fenced             another worker owns the partition now (writes refused)
    │   ├── StateRolledBack    Redis went back in time (the worker re-reads from its offsets)
    │   └── StateLost          Redis lost a partition's state and CLV_ON_STATE_LOST=refuse
    ├── BrokerError            Kafka failed
    └── ModelError             predictive model missing, or its fit failed

Third-party errors are translated at one boundary (``store.errors``, ``worker``);
everything above that sees only these.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ClvStreamError",
    "ConfigError",
    "Fenced",
    "InvalidEvent",
    "ModelError",
    "StateLost",
    "StateRolledBack",
    "StoreError",
    "StoreUnavailable",
]


class ClvStreamError(Exception):
    """Root of every error clv-stream raises on purpose."""


class ConfigError(ClvStreamError):
    """A setting is missing or inconsistent."""


class InvalidEvent(ClvStreamError):
    """An input event failed validation; it goes to the dead-letter topic with ``code``."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


class StoreError(ClvStreamError):
    """The store failed to answer as expected.

    ``reason``: a word safe to log and report (no hosts, ports or keys): the store's refusal
    code (``OOM``, ``READONLY``, ...) or the kind of failure, set where the store's own
    errors are translated.
    """

    reason: str = ""


class StoreUnavailable(StoreError):
    """Redis cannot be reached; retry later."""


class _PartitionError(StoreError):
    def __init__(self, partition: int, message: str) -> None:
        super().__init__(message)
        self.partition = partition


class Fenced(_PartitionError):
    """Another worker claimed the partition since this one did: its writes are refused."""

    def __init__(self, partition: int) -> None:
        super().__init__(partition, f"partition {partition} is owned by another worker now")


class StateRolledBack(_PartitionError):
    """Redis holds older state of the partition than this worker saw (lost writes)."""

    def __init__(self, partition: int) -> None:
        super().__init__(partition, f"Redis went back in time on partition {partition}")


class StateLost(_PartitionError):
    """Redis has no state for a partition Kafka has committed offsets for."""

    def __init__(self, partition: int) -> None:
        super().__init__(partition, f"Redis lost the state of partition {partition}")


class BrokerError(ClvStreamError):
    """The Kafka broker failed to answer as expected."""


class ModelError(ClvStreamError):
    """The predictive model is missing, invalid, or could not be fitted."""
