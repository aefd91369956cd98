"""A worker that cannot start says why and is not restarted in a loop (issue 18: a
read-only --data restarted workers for ever); one killed by a signal is restarted."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from gateway.workers import WorkerFailed, bind, run_workers


@pytest.fixture
def sock() -> socket.socket:
    s = bind("127.0.0.1", 0)
    yield s
    s.close()


def _starts(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_a_worker_that_raises_at_start_stops_the_server_with_its_reason(
    sock: socket.socket, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "starts"

    def work(index: int, _sock: socket.socket) -> None:
        with open(log, "a") as f:
            f.write(f"{index}\n")
        if index == 1:
            raise PermissionError("[Errno 30] Read-only file system: 'data/meta'")
        time.sleep(30)  # a healthy worker serves until it is told to stop

    t0 = time.monotonic()
    with pytest.raises(WorkerFailed, match="worker 1 .* not restarted"):
        run_workers(2, sock, work)
    assert time.monotonic() - t0 < 10, "the healthy worker was not stopped"
    assert sorted(_starts(log)) == ["0", "1"], "the failed worker was started again"
    err = capfd.readouterr().err
    assert "worker 1" in err and "PermissionError: [Errno 30] Read-only file system" in err


def test_one_worker_that_raises_is_reported_as_the_server_failing(sock: socket.socket) -> None:
    def work(_index: int, _sock: socket.socket) -> None:
        raise OSError("no space left")

    with pytest.raises(WorkerFailed, match="could not start: OSError: no space left"):
        run_workers(1, sock, work)


def test_a_worker_killed_by_a_signal_is_restarted(sock: socket.socket, tmp_path: Path) -> None:
    log = tmp_path / "starts"

    def work(index: int, _sock: socket.socket) -> None:
        with open(log, "a") as f:
            f.write(f"{index}:{os.getpid()}\n")
        time.sleep(30)

    pid = os.fork()
    if pid == 0:  # the supervisor, in a child so that this test can signal it
        try:
            run_workers(2, sock, work)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while len(_starts(log)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = int(_starts(log)[0].split(":")[1])
        os.kill(victim, signal.SIGKILL)
        while len(_starts(log)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_starts(log)) == 3, _starts(log)
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
