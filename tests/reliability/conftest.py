"""Fixtures of the fault-injection suite: real broker and redis-server processes, no mocks.

One Tansu broker and one redis-server per session serve the scenarios that do not harm
them; a scenario that kills, pauses or rolls back a server asks for its own
(``own_broker`` / ``own_redis``), so a failure there cannot leave the shared ones stopped.
Every test here is marked ``reliability`` (and ``integration``: it needs real servers).

Scale: ``CLV_RELIABILITY_SCALE=long`` (``make reliability``) runs each scenario at full
size; anything else is the short CI run that ``make test`` includes. Each scenario prints
one ``RELIABILITY ...`` line (repeated in the terminal summary) and appends it as JSON to
``$CLV_RELIABILITY_REPORT`` when that is set.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.devinfra._process import ManagedProcess
from tests.reliability import rig

S = TypeVar("S", bound=ManagedProcess)

_HERE = Path(__file__).resolve().parent
READY_DEADLINE_S = 20.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.integration)
            if rig.LONG:
                item.add_marker(pytest.mark.timeout(rig.LONG_TEST_TIMEOUT_S))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if rig.LINES:
        terminalreporter.section(f"reliability ({rig.SCALE})")
        for line in rig.LINES:
            terminalreporter.write_line(line)


def _discard(server: ManagedProcess) -> None:
    """Stop a server we may have left SIGSTOPped, at once (nothing in it is needed)."""
    if server.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGCONT)
    server.kill()
    server.close()


def _running(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        _discard(server)


@pytest.fixture(scope="session")
def rel_broker() -> Iterator[EmbeddedBroker]:
    """The session's broker (topics are isolated per scenario by name)."""
    yield from _running(EmbeddedBroker(ready_timeout_s=READY_DEADLINE_S))


@pytest.fixture(scope="session")
def rel_redis() -> Iterator[EmbeddedRedis]:
    """The session's redis-server (keys are isolated per scenario by prefix)."""
    yield from _running(EmbeddedRedis(ready_timeout_s=READY_DEADLINE_S))


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, for scenarios that pause it."""
    broker = EmbeddedBroker(ready_timeout_s=READY_DEADLINE_S)
    broker.start()
    try:
        yield broker
    finally:
        _discard(broker)


@pytest.fixture
def own_redis() -> Iterator[Callable[..., EmbeddedRedis]]:
    """``own_redis(appendonly=True, extra_args=[...])``: a redis-server of the test's own,
    started; its data directory survives ``kill()``/``stop()`` then ``start()`` (same port)."""
    made: list[EmbeddedRedis] = []

    def make(appendonly: bool = False, extra_args: list[str] | None = None) -> EmbeddedRedis:
        server = EmbeddedRedis(appendonly=appendonly, extra_args=extra_args,
                               ready_timeout_s=READY_DEADLINE_S)
        server.start()
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            _discard(server)
