"""Start and stop the benchmark targets: Cairn, moto's server and the floor app.

Each runs as a child process listening on 127.0.0.1 on a free port, with its own temp dir,
and is stopped by its PID (SIGINT, then SIGKILL after a timeout); nothing else is touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "CAIRNBENCHACCESSKEY1"
SECRET_KEY = "cairn-bench-secret-key-0123456789abcdefgh"
REPO = Path(__file__).resolve().parent.parent
# The floor runs as many workers as `cairn serve` does by default (one per core, at most 8).
CAIRN_WORKERS = max(1, min(os.cpu_count() or 1, 8))
# Cluster targets, started with `cairn cluster up` (their figures are for issue notes:
# the targets table compares `cairn serve` only). `cluster up` runs TLS on the internal links
# by default; the -notls twin (`--no-internal-tls`) measures what TLS costs, in the same run.
CLUSTERS = {
    "cairn-cluster": ["--nodes", "4", "--replicas", "3"],
    "cairn-cluster-notls": ["--nodes", "4", "--replicas", "3", "--no-internal-tls"],
    "cairn-etcd": ["--nodes", "4", "--replicas", "3", "--etcd", "3", "--meta-services", "2"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    """True once something on the port answers an HTTP request (any status)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


@dataclass
class Target:
    """One server under test."""

    name: str
    port: int = 0
    tmp: Path = field(default_factory=Path)
    proc: subprocess.Popen[bytes] | None = None
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    cluster_pid: int = 0  # a cluster's (first) gateway: what CPU and RSS figures describe

    @property
    def pid(self) -> int:
        if self.cluster_pid:
            return self.cluster_pid
        assert self.proc is not None
        return self.proc.pid

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        data = str(self.tmp / "data")
        env = {**os.environ, "TMPDIR": str(self.tmp)}
        if self.name == "cairn":
            env |= {"CAIRN_ACCESS_KEY": self.access_key, "CAIRN_SECRET_KEY": self.secret_key}
            cmd = ["-m", "cairn.cli", "serve", "--data", data, "--port", str(self.port)]
            return [sys.executable, *cmd, "--host", "127.0.0.1"], env
        if self.name == "moto":
            return [
                sys.executable,
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ], env
        if self.name == "floor":
            Path(data).mkdir(parents=True, exist_ok=True)
            env["FLOOR_DATA"] = data
            return [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.floor_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(CAIRN_WORKERS),
                "--http",
                "httptools",
                "--loop",
                "uvloop",
                "--no-access-log",
                "--log-level",
                "warning",
            ], env
        raise ValueError(f"unknown target {self.name}")

    def _cluster_cmd(self, verb: str) -> tuple[list[str], dict[str, str]]:
        env = {
            **os.environ,
            "CAIRN_ACCESS_KEY": self.access_key,
            "CAIRN_SECRET_KEY": self.secret_key,
        }
        cmd = [sys.executable, "-m", "cairn.cli", "cluster", verb, "--data", str(self.tmp / "c")]
        return cmd + (CLUSTERS[self.name] if verb == "up" else []), env

    def start(self, timeout: float = 60.0) -> Target:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"cairn-bench-{self.name}-"))
        if self.name in CLUSTERS:
            import json

            cmd, env = self._cluster_cmd("up")
            subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True, timeout=180)
            info = json.loads((self.tmp / "c" / "cluster.json").read_text())
            self.port = int(info["endpoints"][0].rsplit(":", 1)[1])
            self.cluster_pid = next(p["pid"] for p in info["processes"] if p["role"] == "gateway")
            return self
        self.port = free_port()
        cmd, env = self.command()
        log = open(self.tmp / "server.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early: {self.log_tail()}")
            if _answers(self.port):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.tmp / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT our process (by PID), SIGKILL if it lingers, then remove its temp dir."""
        if self.name in CLUSTERS and self.tmp.name.startswith("cairn-bench-"):
            cmd, env = self._cluster_cmd("down")
            subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, timeout=120)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.tmp.name.startswith("cairn-bench-"):
            shutil.rmtree(self.tmp, ignore_errors=True)
