"""Free TCP ports and polling waits for the embedded development servers."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from clv_stream.exceptions import ClvStreamError

__all__ = ["ReadinessTimeout", "free_port", "wait_for"]

logger = logging.getLogger(__name__)


class ReadinessTimeout(ClvStreamError, TimeoutError):
    """A condition polled by :func:`wait_for` did not become true before its deadline."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The port is found by binding to port 0 and closing the socket again, so another
    process may take it before the caller does; callers that spawn a server on it retry
    with a new port when the server cannot bind (see ``ManagedProcess``).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_for(
    predicate: Callable[[], bool],
    deadline_s: float,
    what: str,
    interval_s: float = 0.05,
) -> float:
    """Call ``predicate`` until it returns true; return the seconds that took.

    ``predicate`` returning false, or raising ``OSError`` (a refused connection, say),
    means "not yet". Any other exception propagates at once, so a predicate can abort
    the wait (a child process that died, for instance). After ``deadline_s`` seconds
    :class:`ReadinessTimeout` is raised naming ``what`` and the last ``OSError`` seen.
    """
    start = time.monotonic()
    last_error: OSError | None = None
    while True:
        try:
            if predicate():
                elapsed = time.monotonic() - start
                logger.debug("%s after %.3f s", what, elapsed)
                return elapsed
        except OSError as exc:
            last_error = exc
        elapsed = time.monotonic() - start
        if elapsed >= deadline_s:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise ReadinessTimeout(f"timed out after {deadline_s:.1f} s waiting for {what}{detail}")
        time.sleep(min(interval_s, max(deadline_s - elapsed, 0.0)))
