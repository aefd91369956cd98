"""A local Cairn cluster for tests: `cairn cluster up` as real processes, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from blockstore.client import LinkTls
from tests.server import ACCESS_KEY, SECRET_KEY

STARTED: list[CairnCluster] = []


@dataclass
class CairnCluster:
    """Same surface as tests.server.CairnServer where it matters: endpoint and keys."""

    data: Path
    nodes: int = 4
    gateways: int = 1
    replicas: int = 3
    write_quorum: int = 2
    extra_args: list[str] = field(default_factory=list)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    tls: bool = False
    # TLS on the internal links and to etcd (`cluster up`'s default). Off by default here:
    # the fault and cluster tests reach nodes and etcd members over plain HTTP themselves;
    # tests/cluster/test_internal_links.py runs the TLS setup.
    internal_tls: bool = False
    info: dict = field(default_factory=dict)
    _children: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """The next gateway, round robin: each client a test makes talks to another one, so
        a suite run against several gateways mixes them (read-after-write across them)."""
        eps = self.info["endpoints"]
        self._next = getattr(self, "_next", -1) + 1
        return eps[self._next % len(eps)]

    @property
    def endpoints(self) -> list[str]:
        return list(self.info["endpoints"])

    def processes(self, role: str) -> list[dict]:
        return [p for p in self.info["processes"] if p["role"] == role]

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "CAIRN_ACCESS_KEY": self.access_key,
            "CAIRN_SECRET_KEY": self.secret_key,
        }
        secret = self.data / "cluster-secret"
        if secret.exists():  # `cluster up` hands it to its children through the environment
            env["CAIRN_CLUSTER_SECRET"] = secret.read_text().strip()
        tls = self.info.get("tls")
        if tls:  # ... and the link TLS files too
            env |= {"CAIRN_LINK_CA": tls["ca"], "CAIRN_LINK_CERT": tls["cert"]}
            env["CAIRN_LINK_KEY"] = tls["key"]
        return env

    def start(self) -> CairnCluster:
        STARTED.append(self)  # stopped at the end of the session whatever happens (conftest)
        args = [
            sys.executable, "-m", "cairn.cli", "cluster", "up", "--data", str(self.data),
            "--nodes", str(self.nodes), "--gateways", str(self.gateways),
            "--replicas", str(self.replicas), "--write-quorum", str(self.write_quorum),
            *self.extra_args,
            *([] if self.internal_tls else ["--no-internal-tls"]),
        ]  # fmt: skip
        subprocess.run(args, env=self._env(), check=True, capture_output=True, timeout=120)
        self.info = json.loads((self.data / "cluster.json").read_text())
        return self

    def stop(self) -> None:
        if (self.data / "cluster.json").exists():
            subprocess.run(
                [sys.executable, "-m", "cairn.cli", "cluster", "down", "--data", str(self.data)],
                env=self._env(),
                capture_output=True,
                timeout=60,
            )
        for p in self._children.values():
            if p.poll() is None:
                p.kill()
                p.wait()

    def link_tls(self) -> LinkTls:
        """The gateways' TLS settings for the internal links (a TLS cluster only)."""
        tls = self.info["tls"]
        return LinkTls(tls["ca"], tls["cert"], tls["key"])

    def kill9(self, role: str, index: int) -> dict:
        """SIGKILL one process of the cluster and wait until it is gone (or a zombie)."""
        proc = self.processes(role)[index]
        pid = proc["pid"]
        os.kill(pid, signal.SIGKILL)
        child = self._children.get(pid)
        if child is not None:
            child.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        return proc

    def restart(self, role: str, index: int) -> None:
        """Start a killed process again with the very same command line."""
        proc = self.processes(role)[index]
        log = open(self.data / "logs" / f"{role}-{index}.restart.log", "ab")  # noqa: SIM115
        child = subprocess.Popen(
            proc["args"], env=self._env(), stdout=log, stderr=subprocess.STDOUT
        )
        self._children[child.pid] = child
        proc["pid"] = child.pid
        (self.data / "cluster.json").write_text(json.dumps(self.info))
        base = proc.get("url") or f"http://{proc['address']}"
        url = base + ("/health" if role == "node" else "/")
        verify = self.link_tls().context() if self.info.get("tls") else True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"{role} {index} exited with {child.returncode} on restart")
            try:
                httpx.get(url, timeout=1.0, verify=verify)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{role} {index} did not come back")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
