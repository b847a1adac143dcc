"""The exception tree of clv-stream.

    ClvStreamError
    ├── ConfigError            bad settings, found at start-up
    ├── InvalidEvent           one input event rejected (carries a machine-readable code)
    ├── StoreError             Redis failed; adapters translate redis-py errors here
    │   └── StoreUnavailable   cannot reach Redis (the worker waits and retries)
    ├── BrokerError            Kafka failed
    └── ModelError             predictive model missing, or its fit failed

Third-party errors are translated at one boundary (``store.redis_store``, ``worker``);
everything above that sees only these.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ClvStreamError",
    "ConfigError",
    "InvalidEvent",
    "ModelError",
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
    """The Redis store failed to answer as expected."""


class StoreUnavailable(StoreError):
    """Redis cannot be reached; retry later."""


class BrokerError(ClvStreamError):
    """The Kafka broker failed to answer as expected."""


class ModelError(ClvStreamError):
    """The predictive model is missing, invalid, or could not be fitted."""
