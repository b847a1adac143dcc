"""A child server process that cannot outlive its parent: the base of the embedded servers.

How a child is kept from becoming an orphan:

* It runs in its own session and process group (``start_new_session``), so a Ctrl-C in
  the terminal reaches only the Python parent, which then stops it in order; ``stop()``
  signals the whole group, so anything the server forks goes too.
* ``stop()`` is registered with :mod:`atexit`: a normal exit, an unhandled exception or
  ``KeyboardInterrupt`` in the parent stops it.
* On Linux the child asks the kernel for ``PR_SET_PDEATHSIG`` = SIGTERM before ``exec``:
  when the parent dies *in any way* - SIGTERM (which skips ``atexit``), SIGKILL, a crash
  - the kernel sends the server SIGTERM. Caveat: the signal fires when the *thread* that
  spawned the child ends, so start servers from the main thread (or a thread that lives
  as long as they should). Elsewhere (macOS) a parent killed by SIGTERM/SIGKILL leaves
  the server running; kill its process group by hand (``kill -- -PGID``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

from clv_stream.devinfra.ports import ReadinessTimeout, free_port, wait_for
from clv_stream.exceptions import ClvStreamError

__all__ = ["ChildDied", "ManagedProcess"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class ChildDied(Exception):
    """The child process exited while we waited for it to become ready."""


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that sets PR_SET_PDEATHSIG, or ``None`` off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        prctl = ctypes.CDLL(libc_name, use_errno=True).prctl  # resolved in the parent
    except (OSError, AttributeError):
        logger.warning("prctl unavailable; children may outlive a killed parent")
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Started:
    """``with X() as x``: started on entry, closed on exit (whatever the body raised)."""

    def start(self) -> object:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class ManagedProcess(Started):
    """One server subprocess on ``host:port`` with a log file, group-wide stop, no orphans.

    Subclasses give ``_argv()`` (the command line) and ``_probe()`` (true once the
    server answers). ``start()`` retries on a fresh port when the port was chosen here
    and the server died at start-up (someone else took the port meanwhile).
    """

    name: ClassVar[str] = "server"
    error_type: ClassVar[type[ClvStreamError]] = ClvStreamError
    start_attempts: ClassVar[int] = 3

    def __init__(
        self,
        host: str,
        port: int | None,
        work_dir: Path | None,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self._auto_port = port is None
        self.port: int = free_port(host) if port is None else port
        self.ready_timeout_s = ready_timeout_s
        self.startup_s: float | None = None
        self._work_dir: Path | None = work_dir
        self._owns_dir = work_dir is None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.stop_timeout_s = stop_timeout_s
        #: Environment of the child (None: inherit this process's).
        self.env: dict[str, str] | None = None

    # --- state ---------------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        """Directory holding the log file (and data); a temporary one unless given."""
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix=f"clv-{self.name}-"))
        return self._work_dir

    @property
    def log_path(self) -> Path:
        return self.work_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs (it is also its process group id)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- to override -----------------------------------------------------------------
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _probe(self) -> bool:
        raise NotImplementedError

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> float:
        """Spawn the server and wait until it answers; return the seconds that took.

        Raises ``error_type`` with the tail of the server's log when the server exits or
        does not answer within ``ready_timeout_s``. A running server is left alone.
        """
        if self.running:
            return 0.0
        attempts = self.start_attempts if self._auto_port else 1
        for attempt in range(1, attempts + 1):
            began = time.monotonic()
            self._spawn(self._argv())
            if self._await_ready(retry=attempt < attempts):
                self.startup_s = time.monotonic() - began
                logger.info("%s ready at %s in %.3f s", self.name, self.where, self.startup_s)
                return self.startup_s
            self.port = free_port(self.host)
        raise AssertionError("unreachable")  # the last attempt raises or returns

    def _await_ready(self, retry: bool) -> bool:
        """Wait for the spawned child; false means "it died, retry on another port"."""
        what = f"{self.name} at {self.where}"
        try:
            wait_for(self._alive_and_ready, self.ready_timeout_s, what)
        except ChildDied as exc:
            tail = self.log_tail()
            self.stop()
            if retry:
                logger.warning("%s died at start-up (%s); retrying on a new port", what, exc)
                return False
            raise self.error_type(f"{exc} during start-up; log tail:\n{tail}") from None
        except ReadinessTimeout as exc:
            tail = self.log_tail()
            self.stop()
            raise self.error_type(f"{exc}; log tail:\n{tail}") from None
        return True

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _alive_and_ready(self) -> bool:
        self.check_alive()
        ready = self._probe()
        self.check_alive()  # the answer came from our child, not a squatter on the port
        return ready

    def _spawn(self, argv: Sequence[str]) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        logger.info("starting %s: %s", self.name, " ".join(argv))
        self._proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec(),
            env=self.env,
        )
        atexit.register(self.close)

    def check_alive(self) -> None:
        """Raise :class:`ChildDied` if the child has exited."""
        if self._proc is None or self._proc.poll() is not None:
            code = None if self._proc is None else self._proc.returncode
            raise ChildDied(f"{self.name} exited with code {code}")

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _graceful(self) -> None:
        """Ask the server to stop; the default is SIGTERM to its group."""
        self._signal_group(signal.SIGTERM)

    def stop(self) -> None:
        """Stop the server: graceful request, then SIGKILL after ``stop_timeout_s``.

        Idempotent. Keeps the work directory (data survives a restart); see ``close``.
        """
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                self._graceful()
                try:
                    proc.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning(
                        "%s did not stop in %.1f s; killing", self.name, self.stop_timeout_s
                    )
            self._signal_group(signal.SIGKILL)  # also reaps anything it forked
            proc.wait()
            logger.info("%s (pid %s) stopped, exit code %s", self.name, proc.pid, proc.returncode)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the server's group at once (a crash, for recovery tests)."""
        self._signal_group(signal.SIGKILL)
        self.stop()

    def close(self) -> None:
        """Stop, and remove the work directory if it is a temporary one of ours."""
        self.stop()
        atexit.unregister(self.close)
        if self._owns_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
