"""An embedded Redis Cluster (N primaries x R replicas of the local ``redis-server``).

For the cluster store's tests and ``clv-stream dev --redis-cluster``: real servers, real
failovers, no Docker.

    with EmbeddedRedisCluster() as cluster:
        client = redis.cluster.RedisCluster.from_url(cluster.url)

Each node is an :class:`EmbeddedRedis` (own process group, dies with the parent) with
``--cluster-enabled yes``, a short node timeout so failovers take seconds, and
``--cluster-replica-validity-factor 0`` so a replica that lagged still takes over: the
setting that turns "the primary died" into "acknowledged writes were lost", which is
what the failover tests need to provoke. The cluster is formed by ``redis-cli --cluster
create`` (Debian: package ``redis-tools``), the same tool an operator uses.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import redis

from clv_stream.devinfra._process import Started
from clv_stream.devinfra.ports import free_port, wait_for
from clv_stream.devinfra.redis_server import EmbeddedRedis, resolve_redis_server
from clv_stream.exceptions import ConfigError, StoreUnavailable

__all__ = ["CLUSTER_SLOTS", "EmbeddedRedisCluster", "RedisClusterNode", "resolve_redis_cli"]

logger = logging.getLogger(__name__)

#: Hash slots of a Redis Cluster; all must be served for ``cluster_state:ok``.
CLUSTER_SLOTS = 16384

#: Environment variable naming the ``redis-cli`` executable to use.
REDIS_CLI_ENV = "CLV_REDIS_CLI_BIN"

_CLI_HINT = (
    "redis-cli was not found. Install it (Debian/Ubuntu: `sudo apt-get install "
    "redis-tools`; macOS: `brew install redis`), or point ${env} at the executable."
).replace("{env}", REDIS_CLI_ENV)


def resolve_redis_cli(redis_server: str | None = None) -> str:
    """Find ``redis-cli``: ``$CLV_REDIS_CLI_BIN``, next to ``redis-server``, then PATH.

    The sibling comes first so that the tool matches the server's version.
    """
    chosen = os.environ.get(REDIS_CLI_ENV)
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ConfigError(f"redis-cli {chosen!r} is not an executable. {_CLI_HINT}")
        return found
    if redis_server is not None:
        sibling = os.path.join(os.path.dirname(redis_server), "redis-cli")
        if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
            return sibling
    found = shutil.which("redis-cli")
    if found is None:
        raise ConfigError(_CLI_HINT)
    return found


class RedisClusterNode(EmbeddedRedis):
    """One cluster node: an :class:`EmbeddedRedis` with cluster mode and an optional password.

    The cluster bus port is chosen freely (``--cluster-port``) rather than being port +
    10000, which may be taken or beyond 65535 for an ephemeral data port.
    """

    name: ClassVar[str] = "redis-cluster-node"

    def __init__(
        self,
        data_dir: Path,
        node_timeout_ms: int,
        password: str | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        ready_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            host=host,
            data_dir=data_dir,
            binary=binary,
            ready_timeout_s=ready_timeout_s,
            stop_timeout_s=stop_timeout_s,
        )
        self.password = password
        self.node_timeout_ms = node_timeout_ms
        self.bus_port: int | None = None
        #: The node's cluster id (``CLUSTER MYID``), known once the node has started.
        self.node_id: str | None = None
        self.paused = False

    @property
    def url(self) -> str:
        """``redis://[:password@]host:port/0``: what ``CLV_REDIS_URL`` takes."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain (non-cluster) client of this node alone; the caller closes it."""
        kwargs.setdefault("password", self.password)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def _argv(self) -> list[str]:
        self.bus_port = free_port(self.host)
        while self.bus_port == self.port:
            self.bus_port = free_port(self.host)
        auth = ["--requirepass", self.password, "--masterauth", self.password] if self.password else []
        argv = super()._argv()
        return [
            *argv,
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.work_dir / f"nodes-{self.port}.conf"),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--cluster-replica-validity-factor", "0",
            "--cluster-port", str(self.bus_port),
            # a replica syncs at once, not after the default 5 s wait for others to join
            "--repl-diskless-sync-delay", "0",
            *auth,
        ]  # fmt: skip

    def _probe(self) -> bool:
        conn = self._quick_client()
        try:
            myid = conn.execute_command("CLUSTER", "MYID")  # type: ignore[no-untyped-call]
            self.node_id = str(myid)
            return True
        except redis.RedisError:
            return False
        finally:
            conn.close()

    def command(self, *args: str) -> Any:
        """Run one command on this node alone (short timeouts, no retries)."""
        conn = self._quick_client()
        try:
            return conn.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            conn.close()

    def cluster_info(self) -> dict[str, str]:
        """``CLUSTER INFO`` as a dict of strings."""
        text = self.command("CLUSTER", "INFO")
        pairs = (line.split(":", 1) for line in str(text).splitlines() if ":" in line)
        return {key.strip(): value.strip() for key, value in pairs}

    def role(self) -> str:
        """``master`` or ``slave``, as the node itself reports it (``ROLE``)."""
        reply = self.command("ROLE")
        return str(reply[0])

    @property
    def reachable(self) -> bool:
        """Running and not paused: a node that can answer a command."""
        return self.running and not self.paused

    def __repr__(self) -> str:
        return f"RedisClusterNode({self.where}, pid={self.pid}, id={self.node_id})"


class _NodeLine:
    """One line of ``CLUSTER NODES``: id, port, flags, the primary it replicates, slots."""

    def __init__(self, line: str) -> None:
        fields = line.split()
        self.node_id = fields[0]
        address = fields[1].split("@", 1)[0].split(",", 1)[0]
        self.port = int(address.rsplit(":", 1)[1]) if ":" in address else 0
        self.flags = set(fields[2].split(","))
        self.master_id = None if fields[3] == "-" else fields[3]
        self.slots = fields[8:]

    @property
    def failing(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})


class EmbeddedRedisCluster(Started):
    """A Redis Cluster of ``primaries`` x (1 + ``replicas``) local ``redis-server`` nodes.

    ``start()`` spawns the nodes on free ports, forms the cluster with ``redis-cli
    --cluster create`` and returns once every node reports ``cluster_state:ok`` with all
    16384 slots served, and every replica's link to its primary is up. ``kill``,
    ``pause`` and ``resume`` act on one node's process group so a test can make a
    replica lag and a primary crash; ``wait_for_failover`` waits for the promotion.
    """

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        host: str = "127.0.0.1",
        password: str | None = None,
        node_timeout_ms: int = 1000,
        work_dir: Path | None = None,
        binary: str | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        if primaries < 3:
            raise ConfigError("a Redis Cluster needs at least 3 primaries")
        self.primary_count = primaries
        self.replica_count = replicas
        self.host = host
        self.password = password
        self.node_timeout_ms = node_timeout_ms
        self.ready_timeout_s = ready_timeout_s
        self.binary = resolve_redis_server(binary)
        self.cli = resolve_redis_cli(self.binary)
        self._work_dir = work_dir
        self._owns_dir = work_dir is None
        self.nodes: list[RedisClusterNode] = []
        #: Seconds the last ``start()`` took: spawn, create, and converge.
        self.startup_s: float | None = None
        # primary id -> its replicas, as last seen: a killed primary's replicas are
        # still known after the cluster has forgotten the link.
        self._replicas: dict[str, list[RedisClusterNode]] = {}

    # --- lifecycle -----------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="clv-redis-cluster-"))
        return self._work_dir

    def start(self) -> float:
        """Spawn the nodes, form the cluster, wait until it serves; return the seconds taken."""
        if self.nodes:
            return 0.0
        began = time.monotonic()
        atexit.register(self.stop)  # runs before the nodes' own handlers: resumes paused ones
        try:
            total = self.primary_count * (1 + self.replica_count)
            for index in range(total):
                node = RedisClusterNode(
                    self.work_dir / f"node-{index}",
                    self.node_timeout_ms,
                    password=self.password,
                    host=self.host,
                    binary=self.binary,
                    ready_timeout_s=self.ready_timeout_s,
                )
                self.nodes.append(node)
                node.start()
            self._create()
            wait_for(self._formed, self.ready_timeout_s, "the Redis Cluster to converge", 0.1)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        logger.info("redis cluster %s ready in %.3f s", self.url, self.startup_s)
        return self.startup_s

    def _create(self) -> None:
        argv = [
            self.cli, "--cluster", "create",
            *(node.where for node in self.nodes),
            "--cluster-replicas", str(self.replica_count),
            "--cluster-yes",
        ]  # fmt: skip
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password  # kept off the command line
        logger.info("forming the cluster: %s", " ".join(argv))
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.ready_timeout_s,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise StoreUnavailable(f"redis-cli --cluster create timed out: {exc}") from None
        if result.returncode != 0 or "[OK] All 16384 slots covered" not in result.stdout:
            raise StoreUnavailable(
                f"redis-cli --cluster create failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )

    def _formed(self) -> bool:
        """Every node: state ok, all slots, all nodes known, the planned shape, links up."""
        total = len(self.nodes)
        for node in self.nodes:
            node.check_alive()
            info = node.cluster_info()
            if (
                info.get("cluster_state") != "ok"
                or info.get("cluster_slots_ok") != str(CLUSTER_SLOTS)
                or info.get("cluster_known_nodes") != str(total)
            ):
                return False
            lines = self._lines(node)
            masters = [line for line in lines if "master" in line.flags and line.slots]
            slaves = [line for line in lines if "slave" in line.flags]
            if (
                len(masters) != self.primary_count
                or len(slaves) != self.primary_count * self.replica_count
                or any(line.failing for line in lines)
            ):
                return False
        for node in self.nodes:
            if node.role() == "slave":  # synced, so a failover test starts from equal data
                replication = node.command("INFO", "replication")
                if replication.get("master_link_status") != "up":
                    return False
        self._remember_replicas()
        return True

    def stop(self) -> None:
        """Stop every node (a paused one is resumed first) and remove a temporary dir."""
        for node in self.nodes:
            if node.paused:
                self.resume(node)
        for node in self.nodes:
            node.close()
        self.nodes = []
        self._replicas = {}
        atexit.unregister(self.stop)
        if self._owns_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    close = stop

    # --- addresses -----------------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """URLs of the nodes that can answer now (running, not paused)."""
        return [node.url for node in self.nodes if node.reachable]

    @property
    def url(self) -> str:
        """One reachable node's URL: enough for a cluster client (``CLV_REDIS_URL``)."""
        urls = self.urls
        if not urls:
            raise StoreUnavailable("no Redis Cluster node is reachable")
        return urls[0]

    def client(self, **kwargs: Any) -> redis.cluster.RedisCluster:
        """A new ``RedisCluster`` client (the caller closes it)."""
        return redis.cluster.RedisCluster.from_url(self.url, **kwargs)

    # --- topology ------------------------------------------------------------------
    def _lines(self, node: RedisClusterNode) -> list[_NodeLine]:
        # Separate words: redis-py parses "CLUSTER NODES" (one word) into a dict.
        text = node.command("CLUSTER", "NODES")
        return [_NodeLine(line) for line in str(text).splitlines() if line.strip()]

    def _view(self) -> list[_NodeLine]:
        """``CLUSTER NODES`` as seen by the first reachable node."""
        for node in self.nodes:
            if node.reachable:
                return self._lines(node)
        raise StoreUnavailable("no Redis Cluster node is reachable")

    def _by_id(self) -> dict[str, RedisClusterNode]:
        return {node.node_id: node for node in self.nodes if node.node_id is not None}

    def _remember_replicas(self) -> None:
        by_id = self._by_id()
        for line in self._view():
            if "slave" in line.flags and line.master_id and line.node_id in by_id:
                known = self._replicas.setdefault(line.master_id, [])
                if by_id[line.node_id] not in known:
                    known.append(by_id[line.node_id])

    def primaries(self) -> list[RedisClusterNode]:
        """The nodes serving slots now, as the cluster sees them (failing ones left out)."""
        by_id = self._by_id()
        return [
            by_id[line.node_id]
            for line in self._view()
            if "master" in line.flags and line.slots and not line.failing and line.node_id in by_id
        ]

    def replicas_of(self, primary: RedisClusterNode) -> list[RedisClusterNode]:
        """The replicas of ``primary``: the cluster's current view, else as last seen."""
        self._remember_replicas()
        return list(self._replicas.get(primary.node_id or "", []))

    def replica_of(self, primary: RedisClusterNode) -> RedisClusterNode:
        """The (first) replica of ``primary``."""
        replicas = self.replicas_of(primary)
        if not replicas:
            raise StoreUnavailable(f"{primary!r} has no replica")
        return replicas[0]

    def slot_range(self, primary: RedisClusterNode) -> list[tuple[int, int]]:
        """The slot ranges ``primary`` serves, per the cluster's current view."""
        ranges: list[tuple[int, int]] = []
        for line in self._view():
            if line.node_id == primary.node_id:
                for item in line.slots:
                    if item.startswith("["):  # a slot being migrated
                        continue
                    low, _, high = item.partition("-")
                    ranges.append((int(low), int(high or low)))
        return ranges

    # --- faults --------------------------------------------------------------------
    def kill(self, node: RedisClusterNode) -> None:
        """SIGKILL the node's process group: a crash, nothing flushed or handed over."""
        node.kill()
        node.paused = False

    def pause(self, node: RedisClusterNode) -> None:
        """SIGSTOP the node's process group: alive, silent, and falling behind."""
        node._signal_group(signal.SIGSTOP)
        node.paused = True

    def resume(self, node: RedisClusterNode) -> None:
        """SIGCONT the node's process group."""
        node._signal_group(signal.SIGCONT)
        node.paused = False

    def cut_off(self, replica: RedisClusterNode) -> None:
        """Pause ``replica`` and have its primary drop its replication links.

        Pausing alone does not lose anything: the primary keeps streaming into the
        kernel's socket buffers and the resumed replica applies it all, even after the
        primary died. With the link closed while the replica is stopped, and the
        primary refusing ``PSYNC`` from then on (a reconnect already in flight included),
        writes acknowledged from now on exist on the primary only, so a crash of the
        primary really loses them. The primary's other replicas, if any, are cut off too.
        """
        self._remember_replicas()
        primary_id = next((pid for pid, nodes in self._replicas.items() if replica in nodes), None)
        primary = self._by_id().get(primary_id or "")
        if primary is None:
            raise StoreUnavailable(f"{replica!r} is not a known replica")
        if not self._streams_to(primary, replica):
            raise StoreUnavailable(f"{replica!r} is not replicating from {primary!r} now")
        # A replica that was reconnecting may have a PSYNC in flight that the primary would
        # still accept after the kill below; refused, its link stays down.
        primary.command("ACL", "SETUSER", "default", "-psync", "-sync")
        self.pause(replica)
        primary.command("CLIENT", "KILL", "TYPE", "replica")
        wait_for(lambda: not self._streams_to(primary, replica), 5.0,
                 f"{primary!r} to drop its link to {replica!r}", 0.05)

    @staticmethod
    def _streams_to(primary: RedisClusterNode, replica: RedisClusterNode) -> bool:
        """Whether ``primary`` lists ``replica`` among its connected replicas (``ROLE``)."""
        reply = primary.command("ROLE")
        links = reply[2] if len(reply) > 2 else []
        return any(int(link[1]) == replica.port for link in links)

    def wait_for_failover(self, old_primary: RedisClusterNode, deadline_s: float) -> float:
        """Wait until a replica of ``old_primary`` is a master and the cluster is ok again.

        "OK again" means every reachable node reports ``cluster_state:ok`` with all slots
        served; returns the seconds waited. Raises :class:`ReadinessTimeout` otherwise.
        """
        candidates = self.replicas_of(old_primary)
        if not candidates:
            raise StoreUnavailable(f"{old_primary!r} has no replica to promote")

        def promoted() -> bool:
            if not any(node.reachable and node.role() == "master" for node in candidates):
                return False
            for node in self.nodes:
                if not node.reachable:
                    continue
                info = node.cluster_info()
                if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(CLUSTER_SLOTS):
                    return False
            return True

        return wait_for(promoted, deadline_s, f"a replica of {old_primary!r} to take over", 0.1)

    def promoted_replica(self, old_primary: RedisClusterNode) -> RedisClusterNode | None:
        """The replica of ``old_primary`` that is a master now, if any."""
        for node in self.replicas_of(old_primary):
            if node.reachable and node.role() == "master":
                return node
        return None
