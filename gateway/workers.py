"""Pre-forked workers: one listening socket, N processes serving it.

Python serves one core per process, so `cairn serve` and `cairn gateway` fork as many
workers as there are cores by default. The socket is bound before the fork and every
worker accepts on it (the kernel spreads connections). Stores, threads and event loops are
created in each worker after the fork, never inherited. The parent only supervises: it
forwards SIGINT/SIGTERM, restarts a worker that dies, and exits when all have stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_workers(
    count: int, sock: socket.socket, work: Callable[[int, socket.socket], None]
) -> None:
    """Run work(index, sock) in `count` processes (in this one when count == 1)."""
    if count <= 1:
        work(0, sock)
        return
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            _die_with_parent()
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                work(index, sock)
            except BaseException:  # noqa: BLE001 - a worker must never return into the parent's loop
                code = 1
            finally:
                os._exit(code)
        children[pid] = index

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # uvicorn shuts down gracefully on either

    # Handlers first: a signal that arrives while workers are being forked is not lost
    # (a background job may even start with SIGINT ignored).
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for i in range(count):
        spawn(i)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        if index is not None and not stopping:
            print(f"worker {index} (pid {pid}) exited with status {status}: restarting", flush=True)
            time.sleep(0.5)
            spawn(index)


def _die_with_parent() -> None:
    """A worker must not outlive its supervisor (kill -9 of the server stops it all)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
