"""An embedded ``redis-server`` for tests and ``clv-stream dev``.

    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)

By default nothing is persisted (``--save "" --appendonly no``). ``appendonly=True``
turns on the AOF with ``appendfsync everysec`` in ``data_dir``, which survives ``stop()``
and ``kill()``, so a crash test can ``kill()`` then ``start()`` the server again on the
same port and data.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from clv_stream.devinfra._process import ManagedProcess
from clv_stream.exceptions import ClvStreamError, ConfigError, StoreUnavailable

__all__ = ["REDIS_BIN_ENV", "EmbeddedRedis", "resolve_redis_server"]

logger = logging.getLogger(__name__)

#: Environment variable naming the ``redis-server`` executable to use.
REDIS_BIN_ENV = "CLV_REDIS_SERVER_BIN"

_FALLBACK_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin")
_INSTALL_HINT = (
    "redis-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install "
    "redis-server`; macOS: `brew install redis`), or point ${env} at the executable."
).replace("{env}", REDIS_BIN_ENV)


def resolve_redis_server(binary: str | None = None) -> str:
    """Find ``redis-server``: ``binary``, ``$CLV_REDIS_SERVER_BIN``, PATH, then /usr/(s)bin.

    Raises :class:`ConfigError` with install instructions when there is none.
    """
    chosen = binary or os.environ.get(REDIS_BIN_ENV)
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ConfigError(f"redis-server {chosen!r} is not an executable. {_INSTALL_HINT}")
        return found
    found = shutil.which("redis-server")
    if found is not None:
        return found
    for directory in _FALLBACK_DIRS:
        candidate = os.path.join(directory, "redis-server")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigError(_INSTALL_HINT)


class EmbeddedRedis(ManagedProcess):
    """A ``redis-server`` on ``host:port`` (a free port unless given).

    ``data_dir`` holds ``redis.log`` and, with ``appendonly``, the AOF; it is a temporary
    directory, removed by ``close()`` and at interpreter exit, when not given. ``stop()``
    sends ``SHUTDOWN NOSAVE`` and falls back to SIGTERM then SIGKILL.
    """

    name: ClassVar[str] = "redis"
    error_type: ClassVar[type[ClvStreamError]] = StoreUnavailable

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        data_dir: Path | None = None,
        binary: str | None = None,
        appendonly: bool = False,
        ready_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        extra_args: list[str] | None = None,
    ) -> None:
        super().__init__(host, port, data_dir, ready_timeout_s, stop_timeout_s)
        self.binary = resolve_redis_server(binary)
        self.appendonly = appendonly
        self.extra_args = list(extra_args or [])

    @property
    def url(self) -> str:
        """``redis://host:port/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new redis-py client for this server (the caller closes it)."""
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def _argv(self) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.appendonly
            else ["--appendonly", "no"]
        )
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            *persistence,
            "--dir", str(self.work_dir),
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip

    def _quick_client(self, timeout_s: float = 1.0) -> redis.Redis:
        """A client without retries: a probe must answer "not yet" at once, and redis-py
        would otherwise retry against a closing server with back-off (seconds)."""
        return self.client(socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                           retry=Retry(NoBackoff(), 0), decode_responses=True)

    def _probe(self) -> bool:
        conn = self._quick_client()
        try:
            return bool(conn.ping())
        except redis.RedisError:
            return False
        finally:
            conn.close()

    def _graceful(self) -> None:
        """``SHUTDOWN NOSAVE`` (the AOF, if on, is still fsynced), SIGTERM if that fails."""
        conn = self._quick_client(2.0)
        try:
            conn.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # expected: the server closes the connection as it exits
        except redis.RedisError as exc:
            logger.warning("SHUTDOWN NOSAVE failed (%s); sending SIGTERM", exc)
            super()._graceful()
        finally:
            conn.close()
