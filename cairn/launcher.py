"""`cairn cluster up|down`: a local cluster as real processes on 127.0.0.1.

It runs the same commands a deployment runs (`cairn node`, `cairn meta`, `cairn gateway`),
waits until the cluster answers, and writes DIR/cluster.json with every process's role,
address and PID, so that tests and benchmarks can stop or kill any one of them. `down`
stops exactly the processes listed there.

There is always at least one `cairn meta`: its elected leader is the cluster's only layout
manager and housekeeper (GC, repair), on LMDB metadata as on etcd; gateways only serve.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cairn.serve import load_credentials
from meta.sealing import ENV_VAR as MASTER_KEY_ENV
from meta.sealing import ensure_master_key

_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and not one already handed out by this process.

    The children bind their ports only after several have been drawn, and the kernel
    may draw the same free port twice in the meantime (about 1 `cluster up` on etcd in
    600): the second child would then fail with EADDRINUSE. The tests draw theirs here
    too, for the same reason."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _cluster_secret(data: Path) -> str:
    env = os.environ.get("CAIRN_CLUSTER_SECRET")
    if env:
        return env
    path = data / "cluster-secret"
    if not path.exists():
        path.write_text(secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "cairn.cli", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C in the launcher's terminal does not reach them
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def _wait_all(pending: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for url, proc in pending:
        _wait_http(url, proc)
    pending.clear()


def _wait_layout(meta: str, nodes: int, timeout: float = 30.0) -> None:
    from blockstore.cluster.placement import Layout
    from meta.nodes import NodeRegistry
    from meta.open import open_kv

    async def check() -> bool:
        kv = open_kv(meta)
        try:
            current, _, _ = await NodeRegistry(kv).layout()
            return current is not None and len(Layout.from_dict(current).node_ids()) == nodes
        finally:
            await kv.close()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(check()):
            return
        time.sleep(0.2)
    raise SystemExit("the layout did not come to include every node")


@dataclass
class _Processes:
    """What `cluster up` started so far: killed all together if start-up fails."""

    data: Path
    env: dict[str, str]
    records: list[dict[str, object]] = field(default_factory=list)  # cluster.json's
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # Each role's processes start at once and are awaited together: start-up overlaps.
    pending: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, role: str, i: int, command: list[str], probe: str) -> str:
        """Spawn `cairn ROLE COMMAND --port P`; returns its URL (awaited by `wait`)."""
        port = free_port()
        log = self.data / "logs" / f"{role}-{i}.log"
        p = _spawn([role, *command, "--port", str(port)], log, self.env)
        self.procs.append(p)
        address = f"127.0.0.1:{port}"
        self.pending.append((f"http://{address}{probe}", p))
        self.records.append({"role": role, "address": address, "pid": p.pid, "args": p.args})
        return f"http://{address}"

    def wait(self) -> None:
        _wait_all(self.pending)

    def kill(self) -> None:
        for p in self.procs:
            p.kill()


def _start_etcd(data: Path, members: int, run: _Processes) -> str:
    """Start an etcd cluster of `members` and return its --meta spec."""
    from meta.etcd_launch import etcd_command

    ports = [(free_port(), free_port()) for _ in range(members)]
    initial = ",".join(f"etcd-{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
    token = "cairn-" + secrets.token_hex(4)
    for i, (client, peer) in enumerate(ports):
        cmd = etcd_command(f"etcd-{i}", data / f"etcd-{i}", client, peer, initial, token)
        log = open(data / "logs" / f"etcd-{i}.log", "ab")  # noqa: SIM115 - handed to the child
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        run.procs.append(p)
        run.records.append(
            {"role": "etcd", "address": f"127.0.0.1:{client}", "pid": p.pid, "args": cmd}
        )
    for (client, _), p in zip(ports, run.procs[-members:], strict=True):
        _wait_http(f"http://127.0.0.1:{client}/health", p)
    return "etcd://" + ",".join(f"127.0.0.1:{client}" for client, _ in ports)


def _start_nodes(run: _Processes, args: argparse.Namespace, meta: str) -> None:
    for i in range(args.nodes):
        zone = ["--zone", f"zone-{i % args.zones}"] if args.zones else []
        node_args = ["--data", str(run.data / f"node-{i}"), "--meta", meta, *zone]
        node_args += ["--scrub-interval", str(args.scrub_interval)]
        run.start("node", i, node_args, "/health")


def _start_meta_services(run: _Processes, args: argparse.Namespace, shared: list[str]) -> None:
    """The housekeeping flags go here, and only here: the leader is the one housekeeper."""
    schedule = [
        "--node-grace", str(args.node_grace),
        "--gc-interval", str(args.gc_interval),
        "--repair-interval", str(args.repair_interval),
        "--upload-expiry", str(args.upload_expiry),
    ]  # fmt: skip
    for i in range(args.meta_services):
        run.start("meta", i, [*shared, *schedule], "/status")


def _start_gateways(run: _Processes, args: argparse.Namespace, shared: list[str]) -> list[str]:
    state = [["--state", str(run.data / f"gateway-{i}")] for i in range(args.gateways)]
    # On the command line too, so that a gateway restarted with it needs no environment.
    shared = [*shared, "--master-key-file", run.env[MASTER_KEY_ENV]]
    return [run.start("gateway", i, [*shared, *state[i]], "/") for i in range(args.gateways)]


def _child_env(data: Path) -> tuple[dict[str, str], str, str]:
    """The children's environment (cluster secret, bootstrap key pair, the master key's
    file: DATA/master.key, made on first start) and that pair."""
    access, secret_key = load_credentials(data)
    master = str(data / "master.key")
    ensure_master_key(master)
    env = {
        **os.environ,
        MASTER_KEY_ENV: master,
        "CAIRN_CLUSTER_SECRET": _cluster_secret(data),
        "CAIRN_ACCESS_KEY": access,
        "CAIRN_SECRET_KEY": secret_key,
    }
    return env, access, secret_key


def up(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    (data / "logs").mkdir(parents=True, exist_ok=True)
    if (data / "cluster.json").exists():
        raise SystemExit(
            f"{data}/cluster.json exists: run `cairn cluster down --data {data}` first"
        )
    env, access, secret_key = _child_env(data)
    run = _Processes(data, env)
    try:
        meta = _start_etcd(data, args.etcd, run) if args.etcd else f"lmdb:{data / 'meta'}"
        _start_nodes(run, args, meta)
        run.wait()
        shared = ["--meta", meta, "--replicas", str(args.replicas)]
        shared += ["--write-quorum", str(args.write_quorum), "--gc-grace", str(args.gc_grace)]
        _start_meta_services(run, args, shared)
        endpoints = _start_gateways(run, args, shared)
        run.wait()
        _wait_layout(meta, args.nodes)  # installed by the meta leader
    except BaseException:
        run.kill()
        raise
    (data / "cluster.json").write_text(
        json.dumps({"endpoints": endpoints, "processes": run.records, "meta": meta}, indent=2)
    )
    print(
        f"Cairn cluster up: {args.nodes} nodes, {args.gateways} gateway(s), R={args.replicas}, "
        f"metadata {meta}, {args.meta_services} meta service(s)"
    )
    print(f"  S3 endpoint: {endpoints[0]}")
    print(f"  access key:  {access}")
    print(f"  secret key:  {secret_key}")
    print(f"  processes:   {data / 'cluster.json'}")
    return 0


def _is_ours(pid: int) -> bool:
    """Guard against a recycled PID: only stop processes running our command."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"cairn.cli" in cmdline or b"etcdbin/etcd" in cmdline


def down(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    path = data / "cluster.json"
    if not path.exists():
        print(f"no cluster.json in {data}: nothing to stop")
        return 0
    processes = json.loads(path.read_text())["processes"]
    # Clients first, etcd last: a meta service resigning its lease needs etcd to answer.
    order = {"gateway": 0, "meta": 0, "node": 1, "etcd": 2}
    stopped = 0
    for stage in (0, 1, 2):
        live = [
            int(p["pid"])
            for p in processes
            if order[p["role"]] == stage and _is_ours(int(p["pid"]))
        ]
        for pid in live:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_is_ours(p) for p in live):
            time.sleep(0.05)
        for pid in live:
            if _is_ours(pid):
                os.kill(pid, signal.SIGKILL)
        stopped += len(live)
    path.unlink()
    print(f"stopped {stopped} process(es)")
    return 0


def cluster(args: argparse.Namespace) -> int:
    return up(args) if args.cluster_command == "up" else down(args)
