"""docker-compose.yml and Dockerfile: valid, and shaped the way the docs say.

``docker compose config -q`` checks the file against the Compose spec when the docker CLI
and its compose plugin are installed (no engine is needed); the PyYAML checks always run.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
TOPICS = ("orders", "clv.updates", "clv.segments", "clv.deadletter")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    return probe.returncode == 0


def test_docker_compose_config_accepts_the_file() -> None:
    if not _compose_plugin():
        pytest.skip("docker CLI with the compose plugin is not installed")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_compose_file_is_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    """The official compose-spec JSON Schema accepts the file (the copy vendored by the
    check-jsonschema package, read as a file: its CLI needs a newer click than faust allows)."""
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("check-jsonschema (vendors the compose-spec schema) is not installed")
    schema_path = Path(next(iter(spec.submodule_search_locations)))
    schema_path = schema_path / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.validate(compose, schema)


def test_services_present(compose: dict[str, Any]) -> None:
    assert {"kafka", "redis", "worker", "topics"} <= set(compose["services"])


def test_kafka_runs_kraft_with_internal_and_host_listeners(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "PLAINTEXT://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "CLUSTER_ID" in env
    assert "healthcheck" in kafka


def test_topics_service_creates_every_topic(compose: dict[str, Any]) -> None:
    topics = compose["services"]["topics"]
    script = "\n".join(topics["command"])
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    assert "--if-not-exists" in script
    for topic in TOPICS:
        assert topic in script
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_redis_has_aof_and_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7"
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert "redis-data" in compose["volumes"]
    assert "healthcheck" in redis


def test_worker_wiring(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    env = worker["environment"]
    assert env["CLV_KAFKA_BOOTSTRAP"] == "kafka:19092"
    assert _interpolate(env["CLV_REDIS_URL"], {}) == f"redis://:{_DEFAULT_PASSWORD}@redis:6379/0"
    assert env["CLV_WEB_HOST"] == "0.0.0.0"
    assert "127.0.0.1:6066:6066" in worker["ports"]
    assert worker["build"]["dockerfile"] == "Dockerfile"
    conditions = {name: dep["condition"] for name, dep in worker["depends_on"].items()}
    assert conditions == {
        "kafka": "service_healthy",
        "redis": "service_healthy",
        "topics": "service_completed_successfully",
    }


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    assert "FROM python:3.11-slim" in text.splitlines()
    assert "pip install ." in text
    assert "EXPOSE 6066" in text
    assert 'CMD ["clv-stream", "worker"]' in text


# --- safe by default ----------------------------------------------------------------------
_DEFAULT_PASSWORD = "change-me-local-only"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}`` / ``${VAR:-default}`` interpolation (the subset the file uses)."""
    return _VARIABLE.sub(lambda m: env.get(m[1]) or (m[2] or ""), value)


def _published(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(host ip, the whole entry) of every published port, short or long syntax."""
    out: list[tuple[str | None, str]] = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip"), json.dumps(port)))
            continue
        parts = str(port).split(":")
        out.append((parts[0] if len(parts) == 3 else None, str(port)))
    return out


def test_every_published_port_is_bound_to_loopback(compose: dict[str, Any]) -> None:
    published = {name: _published(service) for name, service in compose["services"].items()}
    assert any(published.values())
    for name, ports in published.items():
        for host_ip, entry in ports:
            assert host_ip == "127.0.0.1", f"{name} publishes {entry} on every interface"


def test_redis_requires_a_password_the_worker_and_healthcheck_use(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = [str(part) for part in redis["command"]]
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${CLV_REDIS_PASSWORD:-")
    default = _interpolate(password, {})
    assert default == _DEFAULT_PASSWORD
    assert "local" in default
    # the healthcheck's redis-cli authenticates (REDISCLI_AUTH, off its command line)
    assert redis["environment"]["REDISCLI_AUTH"] == password
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])
    # the worker's URL carries the same password, whatever the operator sets
    url = compose["services"]["worker"]["environment"]["CLV_REDIS_URL"]
    for env in ({}, {"CLV_REDIS_PASSWORD": "s3cr3t-Value_1"}):
        secret = _interpolate(password, env)
        assert _interpolate(url, env) == f"redis://:{secret}@redis:6379/0"
    assert "change-me" in COMPOSE.read_text().split("services:")[0]  # documented up top


def test_worker_token_and_healthcheck(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert worker["environment"]["CLV_WEB_TOKEN"] == "${CLV_WEB_TOKEN:-}"
    probe = " ".join(worker["healthcheck"]["test"])
    assert "/healthz" in probe


def test_an_empty_token_means_unset() -> None:
    """Compose passes ``CLV_WEB_TOKEN=""`` when the variable is unset: the API is open."""
    from pydantic import SecretStr

    from clv_stream.settings import Settings

    assert Settings(web_token="").web_token is None
    assert Settings(web_token=SecretStr(" ")).web_token is None
    token = Settings(web_token="abc").web_token
    assert token is not None
    assert token.get_secret_value() == "abc"


# --- the `cluster` profile: a Redis Cluster of six nodes ---------------------------------
_CLUSTER_NODES = tuple(f"redis-node-{n}" for n in range(1, 7))
_CLUSTER_CREATE = "redis-cluster-create"


def _option(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


def test_cluster_profile_has_six_password_protected_cluster_nodes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ports = set()
    for name in _CLUSTER_NODES:
        node = services[name]
        assert node["image"] == "redis:7"
        command = [str(part) for part in node["command"]]
        assert command[0] == "redis-server"
        assert _option(command, "--cluster-enabled") == "yes"
        assert _option(command, "--cluster-announce-hostname") == name
        port = _option(command, "--port")
        ports.add(port)
        # the password, whatever the operator sets, as the single `redis` service has it
        password = _option(command, "--requirepass")
        assert password == _option(command, "--masterauth")
        assert _interpolate(password, {}) == _DEFAULT_PASSWORD
        assert _interpolate(password, {"CLV_REDIS_PASSWORD": "s3cr3t"}) == "s3cr3t"
        assert node["environment"]["REDISCLI_AUTH"] == password
        # published on loopback only, on the port the node announces
        assert _published(node) == [("127.0.0.1", f"127.0.0.1:{port}:{port}")]
        assert "redis-cli" in " ".join(node["healthcheck"]["test"])
    assert len(ports) == 6


def test_cluster_services_are_in_the_cluster_profile_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    clustered = {*_CLUSTER_NODES, _CLUSTER_CREATE}
    for name in clustered:
        assert services[name]["profiles"] == ["cluster"], name
    for name, service in services.items():
        if name not in clustered:  # the default stack starts without the profile
            assert "cluster" not in service.get("profiles", []), name
    worker_deps = set(services["worker"]["depends_on"])
    assert not worker_deps & clustered


def test_cluster_create_waits_for_all_six_and_makes_one_replica_each(compose: dict[str, Any]) -> None:
    create = compose["services"][_CLUSTER_CREATE]
    assert create["image"] == "redis:7"
    conditions = {name: dep["condition"] for name, dep in create["depends_on"].items()}
    assert conditions == dict.fromkeys(_CLUSTER_NODES, "service_healthy")
    script = "\n".join(create["command"])
    assert "redis-cli --cluster create" in script
    assert re.search(r"--cluster-replicas 1\b", script)
    assert "--cluster-yes" in script
    services = compose["services"]
    for name in _CLUSTER_NODES:
        port = _option([str(p) for p in services[name]["command"]], "--port")
        assert f"{name}:{port}" in script
    # authenticated through the environment, never on the command line
    assert create["environment"]["REDISCLI_AUTH"].startswith("${CLV_REDIS_PASSWORD:-")
    assert " -a " not in script
    assert create["restart"] == "no"
    top = COMPOSE.read_text().split("services:")[0]
    assert "--profile cluster" in top  # how to start it is documented up top
