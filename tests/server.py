"""Start a real `cairn serve` process for tests: free port, temp data dir, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cairn.launcher import free_port  # re-exported: tests draw ports as `cluster up` does

ACCESS_KEY = "CAIRNTESTACCESSKEY01"
SECRET_KEY = "cairn-test-secret-key-0123456789abcdefghij"


@dataclass
class CairnServer:
    """A `cairn serve` child process. `endpoint` is what clients use."""

    data: Path
    tls: bool = False
    nodes: int = 1
    # One worker, so that tests measuring the server's memory read the one process that
    # serves; the multi-worker path is covered by the cluster's gateways and its own test.
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self, timeout: float = 30.0) -> CairnServer:
        if not self.port:
            self.port = free_port()
        args = [
            sys.executable,
            "-m",
            "cairn.cli",
            "serve",
            "--data",
            str(self.data),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--nodes",
            str(self.nodes),
            "--workers",
            str(self.workers),
            *(["--tls"] if self.tls else []),
            *self.extra_args,
        ]
        env = {
            **os.environ,
            "CAIRN_ACCESS_KEY": self.access_key,
            "CAIRN_SECRET_KEY": self.secret_key,
            **self.env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cairn serve exited early: {self.log_path.read_text()[-3000:]}")
            try:
                httpx.get(self.endpoint + "/", verify=False, timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"cairn serve did not answer: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int | None:
        """Stop the process we started (by PID). SIGINT is Ctrl-C; SIGKILL is a crash."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> CairnServer:
        self.stop()
        return self.start()
