"""The one boundary where redis-py errors become :class:`~clv_stream.exceptions.StoreError`.

Every call :class:`~clv_stream.store.redis_store.RedisStore` (and the cluster store) makes
runs inside :func:`translated`, so nothing outside ``store/`` sees a redis-py exception. A
Redis Cluster's passing states (a slot moving or not served while a replica takes over, the
client's retries used up on them) are outages too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as rexc

from clv_stream.exceptions import Fenced, StateRolledBack, StoreError, StoreUnavailable

__all__ = ["translated"]

#: Redis refusals that pass by themselves (memory freed, a replica promoted, a disk fixed, a
#: dataset loaded): the worker waits for them as for a lost connection (authentication
#: errors are connection errors in redis-py already).
_TRANSIENT = frozenset({"OOM", "READONLY", "MISCONF", "LOADING", "BUSY", "MASTERDOWN",
                        "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN", "MOVED", "ASK"})

#: The codes redis-py takes off the message of the refusals it has a class for.
_CODE_OF = {rexc.OutOfMemoryError: "OOM", rexc.ReadOnlyError: "READONLY",
            rexc.BusyLoadingError: "LOADING", rexc.TryAgainError: "TRYAGAIN",
            rexc.ClusterDownError: "CLUSTERDOWN", rexc.MasterDownError: "MASTERDOWN"}


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except (rexc.ConnectionError, rexc.TimeoutError) as exc:
        raise _because(StoreUnavailable(str(exc)), type(exc).__name__) from exc
    except rexc.ResponseError as exc:
        raise _because(_refusal(exc), refusal_code(exc)) from exc
    except rexc.ClusterError as exc:  # e.g. "TTL exhausted": redirected until retries ran out
        raise _because(StoreUnavailable(str(exc)), type(exc).__name__) from exc
    except rexc.RedisError as exc:
        raise _because(StoreError(str(exc)), type(exc).__name__) from exc
    except rexc.CrossSlotTransactionError as exc:  # a bug, not an outage
        raise _because(StoreError(str(exc)), type(exc).__name__) from exc
    except rexc.RedisClusterException as exc:  # a slot not served, no node reachable
        raise _because(StoreUnavailable(str(exc)), type(exc).__name__) from exc


def _because(error: StoreError, reason: str) -> StoreError:
    error.reason = reason
    return error


def refusal_code(exc: rexc.ResponseError) -> str:
    """The error code of a Redis refusal (``OOM``, ``READONLY``, ...): the message's first
    word, or, for the refusals redis-py has a class for, the code it took off the message
    (``status_code`` in newer redis-py, else known by the class)."""
    code = getattr(exc, "status_code", None) or _CODE_OF.get(type(exc))
    return str(code) if code else str(exc).split(" ", 1)[0]


def _refusal(exc: rexc.ResponseError) -> StoreError:
    code, message = refusal_code(exc), str(exc)
    if code == "CLVFENCED":
        return Fenced(int(message.split()[1]))
    if code == "CLVROLLEDBACK":
        return StateRolledBack(int(message.split()[1]))
    if code in _TRANSIENT:
        return StoreUnavailable(f"{code} {message}")
    return StoreError(message)
