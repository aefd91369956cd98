"""Pre-forked workers: one listening socket, N processes serving it.

Python serves one core per process, so `cairn serve` and `cairn gateway` fork as many
workers as there are cores by default. The socket is bound before the fork and every
worker accepts on it (the kernel spreads connections). Stores, threads and event loops are
created in each worker after the fork, never inherited. The parent only supervises: it
forwards SIGINT/SIGTERM, restarts a worker that dies while serving, and exits when all
have stopped.

A worker that raises within `STARTUP_S` of its start (a store it cannot open, a directory
it cannot write) would fail the same way again: it prints why, and the supervisor stops
the others and raises `WorkerFailed` instead of restarting it in a loop. So does a worker
that dies `MAX_CRASHES` times within a minute. A worker killed by a signal (the OOM
killer, an operator's kill) is restarted: nothing says its next start fails too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

FAILED = 3  # a worker's exit status when it raised (a signal's death is not this)
STARTUP_S = 10.0  # a worker that dies this soon after its start is not restarted
MAX_CRASHES = 5  # ... nor one that died this many times in CRASH_WINDOW_S
CRASH_WINDOW_S = 60.0


class WorkerFailed(Exception):
    """A worker could not serve, and restarting it would not help; the message says why."""


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def run_workers(
    count: int, sock: socket.socket, work: Callable[[int, socket.socket], None]
) -> None:
    """Run work(index, sock) in `count` processes (in this one when count == 1)."""
    if count <= 1:
        try:
            work(0, sock)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - said once, in one line, by the caller
            raise WorkerFailed(f"the server could not start: {_reason(exc)}") from exc
        return
    _Supervisor(count, sock, work).run()


class _Supervisor:
    def __init__(
        self, count: int, sock: socket.socket, work: Callable[[int, socket.socket], None]
    ) -> None:
        self.count, self.sock, self.work = count, sock, work
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self.crashes: list[float] = []
        self.stopping = False

    def spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            _die_with_parent()
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                self.work(index, self.sock)
            except KeyboardInterrupt:
                pass
            except BaseException as exc:  # noqa: BLE001 - a worker must never return into the parent's loop
                print(f"worker {index} (pid {os.getpid()}) failed: {_reason(exc)}",
                      file=sys.stderr, flush=True)  # fmt: skip
                code = FAILED
            finally:
                os._exit(code)
        self.children[pid] = (index, time.monotonic())

    def stop(self, signum: int = signal.SIGTERM, _frame: object = None) -> None:
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # uvicorn shuts down gracefully on either

    def run(self) -> None:
        # Handlers first: a signal that arrives while workers are being forked is not lost
        # (a background job may even start with SIGINT ignored).
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        for i in range(self.count):
            self.spawn(i)
        failure: str | None = None
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            index, started = self.children.pop(pid, (None, 0.0))
            if index is None or self.stopping:
                continue
            failure = self._hopeless(index, pid, status, started)
            if failure is not None:
                self.stop()
                continue
            print(f"worker {index} (pid {pid}) exited with status {status}: restarting",
                  file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(0.5)
            self.spawn(index)
        if failure is not None:
            raise WorkerFailed(failure)

    def _hopeless(self, index: int, pid: int, status: int, started: float) -> str | None:
        """Why restarting this worker would not help, or None."""
        now = time.monotonic()
        raised = os.WIFEXITED(status) and os.WEXITSTATUS(status) == FAILED
        if raised and now - started < STARTUP_S:
            return f"worker {index} (pid {pid}) failed while starting (its reason is above); not restarted"  # fmt: skip
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW_S] + [now]
        if len(self.crashes) >= MAX_CRASHES:
            return f"workers died {len(self.crashes)} times within {CRASH_WINDOW_S:.0f}s; stopping"
        return None


def _die_with_parent() -> None:
    """A worker must not outlive its supervisor (kill -9 of the server stops it all)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
