"""Pre-forked workers share the connections: the least busy worker accepts first.

Which worker holds a connection is read from /proc (each worker's socket inodes against
/proc/net/tcp), so the test sees the kernel's view, not the server's own counters.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from pathlib import Path

from tests.conftest import make_client
from tests.server import CairnServer

ESTABLISHED = "01"


def _established_inodes(port: int) -> set[str]:
    """Inodes of established TCP sockets whose local port is `port`."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == ESTABLISHED:
                out.add(fields[9])
    return out


def _per_worker(srv: CairnServer) -> Counter[int]:
    """Established connections to the server, by worker pid."""
    assert srv.proc is not None
    children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    inodes = _established_inodes(srv.port)
    held: Counter[int] = Counter()
    for pid in map(int, children):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue  # a worker that has just died (not yet reaped)
        held[pid] += 0
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                held[pid] += 1
    return held


def _connect(srv: CairnServer, n: int, gap: float) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", srv.port)))
        time.sleep(gap)
    return socks


def _split(srv: CairnServer, n: int, gap: float) -> tuple[list[socket.socket], list[int]]:
    """Open n connections; how many each worker holds, fewest first."""
    socks = _connect(srv, n, gap)
    time.sleep(0.4)
    counts = sorted(_per_worker(srv).values())
    assert sum(counts) == n, counts
    return socks, counts


def test_connections_spread_over_the_workers(tmp_path: Path) -> None:
    srv = CairnServer(tmp_path / "data", workers=2).start()
    try:
        time.sleep(0.5)  # the readiness probe's connection has closed
        # One at a time, as a client opens its pool. Alternating, unless the idle worker
        # was not scheduled within the busier one's wait (a loaded machine): never lopsided.
        socks, counts = _split(srv, 6, gap=0.05)
        assert counts[0] >= 2, counts
        for s in socks:
            s.close()
        time.sleep(0.5)
        assert sum(_per_worker(srv).values()) == 0  # closed ones are counted out
        # All at once (aws s3 cp's 10 threads): without balancing one worker took 9 or 10.
        socks, counts = _split(srv, 10, gap=0)
        assert counts[1] <= 7, counts
        for s in socks:
            s.close()
        # The server still answers on every connection.
        s3 = make_client(srv)
        s3.create_bucket(Bucket="spread")
        for i in range(8):
            make_client(srv).put_object(Bucket="spread", Key=f"k{i}", Body=b"x")
        assert len(s3.list_objects_v2(Bucket="spread")["Contents"]) == 8
    finally:
        srv.stop()


def test_a_restarted_worker_starts_with_no_connections(tmp_path: Path) -> None:
    """A worker killed while holding connections is restarted; the count it left behind
    must not make the new one look busy for ever."""
    srv = CairnServer(tmp_path / "data", workers=2).start()
    try:
        time.sleep(0.5)
        socks, _ = _split(srv, 8, gap=0.05)  # about 4 each
        victim = max(_per_worker(srv).items(), key=lambda kv: kv[1])[0]
        os.kill(victim, 9)
        for s in socks:
            s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(_per_worker(srv)) == 2 and victim not in _per_worker(srv):
                break
            time.sleep(0.1)
        # Had the new worker inherited its predecessor's count (4 or so), the other one
        # would take all four of these, every time. A new worker that is slow to reach its
        # accept loop on a loaded machine gets three tries a second apart.
        for _ in range(3):
            time.sleep(1.0)
            socks, counts = _split(srv, 4, gap=0.05)
            for s in socks:
                s.close()
            if counts[0] >= 1:
                break
        assert counts[0] >= 1, counts
    finally:
        srv.stop()
