"""The embedded stack behind ``clv-stream dev`` and ``demo``: broker, redis-server (or a
Redis Cluster of 3 x (1 + 1) nodes: ``dev --redis-cluster``), worker.

Each part is a child process that stops with the stack (and dies with its parent on
Linux), so Ctrl-C or SIGTERM leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Self

from pydantic import SecretStr

from clv_stream.devinfra._process import ManagedProcess, Started
from clv_stream.devinfra.broker import EmbeddedBroker
from clv_stream.devinfra.ports import free_port
from clv_stream.devinfra.redis_cluster import EmbeddedRedisCluster
from clv_stream.devinfra.redis_server import EmbeddedRedis
from clv_stream.events.topics import topic_names
from clv_stream.settings import Settings

__all__ = ["DevStack", "WorkerProcess"]

logger = logging.getLogger(__name__)


class WorkerProcess(ManagedProcess):
    """``clv-stream worker`` as a child process; ready when ``GET /healthz`` answers 200.

    It reads its settings from the environment, which :class:`DevStack` sets up.
    """

    name: ClassVar[str] = "worker"
    start_attempts: ClassVar[int] = 1

    def __init__(self, settings: Settings, work_dir: Path | None = None,
                 extra_env: Mapping[str, str] | None = None) -> None:
        super().__init__(settings.web_host, settings.web_port, work_dir,
                         ready_timeout_s=90.0, stop_timeout_s=15.0)
        self.env = {**os.environ, **settings_env(settings), **(extra_env or {})}

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "clv_stream.cli.main", "worker"]

    def _probe(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/healthz", timeout=1):
                return True
        except OSError:
            return False


#: Consumer-group timeouts for the embedded broker (see docs/tansu.md), unless set already.
EMBEDDED_BROKER_ENV = {
    "CLV_KAFKA_REBALANCE_TIMEOUT_MS": os.environ.get("CLV_KAFKA_REBALANCE_TIMEOUT_MS", "6000"),
    "CLV_KAFKA_SESSION_TIMEOUT_MS": os.environ.get("CLV_KAFKA_SESSION_TIMEOUT_MS", "6000"),
}


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as ``CLV_*`` environment variables, for a child worker process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):  # dumped masked: the child needs the value
            value = secret.get_secret_value()
        env[f"CLV_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


class DevStack(Started):
    """Start a broker, a redis-server and a worker on local ports; stop all on exit.

    ``settings`` gives the topics and everything else; the connection settings of the
    returned :attr:`settings` point at the embedded servers. ``redis_cluster``: an
    embedded Redis Cluster (3 primaries, a replica each, on free ports) instead of one
    redis-server, and the worker runs with ``CLV_REDIS_CLUSTER=true``.
    """

    def __init__(self, settings: Settings, *, broker_port: int | None = None,
                 redis_port: int | None = None, worker: bool = True,
                 redis_cluster: bool = False) -> None:
        self.broker = EmbeddedBroker(port=broker_port)
        self.redis: EmbeddedRedis | EmbeddedRedisCluster = (
            EmbeddedRedisCluster() if redis_cluster else EmbeddedRedis(port=redis_port))
        self._cluster = redis_cluster
        self._base = settings
        self._with_worker = worker
        self.worker: WorkerProcess | None = None
        self.settings = settings

    def start(self) -> Self:
        try:
            self.broker.start()
            self.redis.start()
            self.settings = self._base.model_copy(update={
                "kafka_bootstrap": self.broker.bootstrap,
                "redis_url": SecretStr(self.redis.url),
                "redis_cluster": self._cluster or self._base.redis_cluster,
            })
            s = self.settings
            self.broker.create_topics(topic_names(s), partitions=s.topic_partitions)
            if self._with_worker:
                self._start_worker()
        except BaseException:  # also SIGTERM/Ctrl-C during start-up: stop what was started
            self.stop()
            raise
        return self

    def _start_worker(self) -> None:
        s = self.settings
        if not port_is_free(s.web_host, s.web_port):
            self.settings = s = s.model_copy(update={"web_port": free_port(s.web_host)})
            logger.warning("port %s is taken; the worker's HTTP API uses %s instead",
                           self._base.web_port, s.web_port)
        # Tansu holds JoinGroup for half the rebalance timeout: short timeouts join fast.
        self.worker = WorkerProcess(s, extra_env=EMBEDDED_BROKER_ENV)
        self.worker.start()
        logger.info("worker ready on http://%s:%s", s.web_host, s.web_port)

    def stop(self) -> None:
        for part in (self.worker, self.redis, self.broker):
            if part is not None:
                part.stop()

    close = stop


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (so a server may bind it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
