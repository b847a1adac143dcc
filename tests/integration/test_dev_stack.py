"""`clv-stream dev` starts the whole stack and leaves no process behind on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from clv_stream.devinfra import free_port


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry))
            found |= _children(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_dev(web: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLV_WEB_PORT": str(web), "CLV_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "clv_stream.cli.main", "dev",
                             "--broker-port", str(free_port()), "--redis-port", str(free_port()),
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _terminate_and_check(proc: subprocess.Popen[bytes], children: set[int]) -> None:
    """SIGTERM: the process exits 0 and none of its children outlive it."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if _alive(c)], "orphans left behind"


@pytest.mark.parametrize("extra", [(), ("--redis-cluster",)], ids=["redis", "redis-cluster"])
def test_dev_serves_and_stops_cleanly_on_sigterm(extra: tuple[str, ...]) -> None:
    web = free_port()
    proc = _start_dev(web, *extra)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "dev stack did not come up"
                time.sleep(0.3)
        children = _children(proc.pid)
        # broker, redis-server (or the cluster's 6 nodes), worker
        assert len(children) >= (8 if extra else 3)
        _terminate_and_check(proc, children)
        if extra:
            assert proc.stdout is not None
            assert b"redis cluster redis://" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_dev_stops_cleanly_on_sigterm_during_start_up() -> None:
    """A SIGTERM before the stack is up (the worker still starting) also exits 0, no orphans."""
    proc = _start_dev(free_port())
    try:
        deadline = time.monotonic() + 60
        children: set[int] = set()
        while len(children) < 2:  # the broker and redis-server run; the worker is not up yet
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)
            children = _children(proc.pid)
        _terminate_and_check(proc, children)
    finally:
        if proc.poll() is None:
            proc.kill()
