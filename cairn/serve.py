"""Running a gateway: `cairn serve` (everything in one process) and `cairn gateway`
(the S3 front end alone, talking to storage nodes listed in the metadata)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import string
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

import uvicorn

from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from blockstore.memory import trim_when_idle, tune_malloc
from cairn import pki
from cairn.housekeeper import Housekeeper, Schedule
from gateway import metrics
from gateway.app import create_app
from gateway.balance import BalancedServer, ConnectionCounts
from gateway.context import Services
from gateway.http_protocol import CairnHttpProtocol, HttpLimits
from gateway.keyring import KeyRing
from gateway.objects.service import ObjectService
from gateway.workers import bind, run_workers
from meta.access import AccessKeys
from meta.api import KV
from meta.sealing import (
    KeyringFile,
    MasterKey,
    MasterKeyError,
    ensure_master_key,
    load_master_key,
    master_key_path,
)
from meta.store import MetaStore


class Credentials(NamedTuple):
    """The root S3 key pair; ``generated``: made just now, so shown once (and never again)."""

    access_key: str
    secret_key: str
    generated: bool = False


def load_credentials(data: Path) -> tuple[str, str]:
    """CAIRN_ACCESS_KEY / CAIRN_SECRET_KEY, else a pair generated once and kept in DATA."""
    access, secret, _ = root_credentials(data)
    return access, secret


def root_credentials(data: Path) -> Credentials:
    """load_credentials, also telling whether the pair was generated just now."""
    env_key, env_secret = os.environ.get("CAIRN_ACCESS_KEY"), os.environ.get("CAIRN_SECRET_KEY")
    if env_key and env_secret:
        return Credentials(env_key, env_secret)
    path = data / "credentials.json"
    if path.exists():
        creds = json.loads(path.read_text())
        return Credentials(creds["access_key"], creds["secret_key"])
    alphabet = string.ascii_uppercase + string.digits
    access = "CAIRN" + "".join(secrets.choice(alphabet) for _ in range(15))
    secret = secrets.token_urlsafe(30)[:40]
    pki.write_private(path, json.dumps({"access_key": access, "secret_key": secret}).encode())
    return Credentials(access, secret, generated=True)


def _announce(scheme: str, args: argparse.Namespace, credentials: Credentials) -> None:
    """The endpoint and the access key id; the secret only when it was generated now.
    A secret from the environment is never printed: it would end up in container logs."""
    print(f"Cairn S3 endpoint: {scheme}://{args.host}:{args.port}", flush=True)
    print(f"  access key: {credentials.access_key}", flush=True)
    if credentials.generated:
        print(f"  secret key: {credentials.secret_key}", flush=True)
        print("  (shown once; kept in credentials.json, readable by this user only)", flush=True)


def gateway_master_key(args: argparse.Namespace, default: Path | None) -> MasterKey:
    """The master key that opens the stored key secrets: --master-key-file, else
    $CAIRN_MASTER_KEY_FILE, else (cairn serve) DATA/master.key, made on first start. A
    gateway without one refuses to start: it could not authenticate a single stored key."""
    path = master_key_path(getattr(args, "master_key_file", None))
    try:
        if path is not None:
            return load_master_key(path)
        if default is not None:
            return ensure_master_key(default)
    except MasterKeyError as exc:
        raise SystemExit(f"cairn {args.command}: {exc}") from None
    raise SystemExit(
        f"cairn {args.command}: no master key: give --master-key-file FILE (or set "
        "CAIRN_MASTER_KEY_FILE); key secrets in the metadata are sealed under it"
    )


def ensure_certificate(data: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for --tls, made on first start and kept in DATA/tls."""
    return pki.self_signed(data / "tls", ["localhost", "127.0.0.1", host])


def http_limits(args: argparse.Namespace) -> HttpLimits:
    """The per-connection limits of --max-request-line, --max-header-bytes,
    --header-timeout and --max-connections (docs/operations.md, Limits)."""
    return HttpLimits(
        max_request_line=args.max_request_line,
        max_header_bytes=args.max_header_bytes,
        header_timeout=args.header_timeout,
        max_connections=args.max_connections,
    )


def _uvicorn_config(app: object, args: argparse.Namespace, ssl: dict[str, str]) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
        http=CairnHttpProtocol.with_limits(http_limits(args)),
        loop="uvloop",
        timeout_keep_alive=args.keep_alive_timeout,
        # Idle TLS connections otherwise hold a clean shutdown for the keep-alive timeout.
        timeout_graceful_shutdown=5,
        **ssl,  # type: ignore[arg-type]
    )


Backend = Callable[[], tuple[KV, ReplicatedBlocks, list[Callable[[], Awaitable[None]]]]]
"""Opens a worker's metadata store and block client, and names its background jobs:
called in each worker after the fork."""


def _run_gateway(
    args: argparse.Namespace,
    backend: Backend,
    credentials: Credentials,
    tls_dir: Path,
    banner: str,
    housekeeping: Schedule | None,
    master: MasterKey,
    master_file: Path | None = None,
) -> int:
    """Serve S3 in args.workers processes; with a `housekeeping` schedule, worker 0 also
    runs the housekeeper (cairn serve), without one nothing but S3 (cairn gateway)."""
    ssl: dict[str, str] = {}
    scheme = "http"
    if args.tls:
        cert, key = ensure_certificate(tls_dir, args.host)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        scheme = "https"
    sock = bind(args.host, args.port)
    counts = ConnectionCounts(args.workers)  # shared by the workers forked below
    _announce(scheme, args, credentials)
    print(f"  {banner}; {args.workers} worker(s)", flush=True)

    if args.metrics_port:
        metrics.enable(tls_dir / "metrics")
        metrics.serve(args.host, args.metrics_port)
        print(f"  metrics:    http://{args.host}:{args.metrics_port}/metrics", flush=True)

    def work(index: int, sock: socket.socket) -> None:
        tune_malloc()
        metrics.start_worker()
        kv, blocks, background = backend()
        meta = MetaStore(kv, gc_grace_ms=int(args.gc_grace * 1000))
        objects = ObjectService(
            meta, blocks, block_size=args.block_size, inline_max=args.inline_max,
            keys=KeyringFile(master, master_file),
        )  # fmt: skip
        services = Services(
            objects=objects,
            region=args.region,
            ssec_over_http=getattr(args, "allow_ssec_over_http", False),
        )
        if housekeeping and index == 0:  # one housekeeper: worker 0 of cairn serve
            background.append(Housekeeper(meta, blocks, housekeeping).run)
        keyring = KeyRing({credentials.access_key: credentials.secret_key}, AccessKeys(kv, master))
        background.append(keyring.run)
        background.append(
            lambda: trim_when_idle(lambda: (objects.bodies_started, objects.bodies_running))
        )
        app = create_app(services, keyring, domain=args.domain, background=background)
        config = _uvicorn_config(app, args, ssl)
        server = BalancedServer(config, sock, index, counts)
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=config.get_loop_factory()) as runner,
        ):
            runner.run(_serve(server, kv, blocks))

    run_workers(args.workers, sock, work)
    print("Cairn stopped.", flush=True)
    return 0


async def _serve(server: uvicorn.Server, kv: KV, blocks: ReplicatedBlocks) -> None:
    try:
        await server.serve()
    finally:
        await blocks.close()
        await kv.close()


def serve(args: argparse.Namespace) -> int:
    """Gateway, embedded metadata and N local block stores in one process."""
    from meta.lmdb_kv import LmdbKV

    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)

    def backend() -> tuple[KV, ReplicatedBlocks, list[Callable[[], Awaitable[None]]]]:
        stores = {
            f"node-{i}": LmdbBlockStore(data / "blocks" / f"node-{i}", verify_puts=False)
            for i in range(args.nodes)
        }
        blocks = ReplicatedBlocks(stores, replicas=min(args.replicas, args.nodes))
        kv = LmdbKV(data / "meta", map_size=args.meta_map_size)
        return kv, blocks, [metrics.free_space_gauge(kv.free_bytes)]

    banner = f"data:       {data} ({args.nodes} block store(s))"
    schedule = Schedule.of(args)
    master = gateway_master_key(args, data / "master.key")
    master_file = Path(
        master_key_path(getattr(args, "master_key_file", None)) or data / "master.key"
    )
    return _run_gateway(
        args, backend, root_credentials(data), data, banner, schedule, master, master_file
    )


def gateway(args: argparse.Namespace) -> int:
    """The S3 front end alone: blocks on the storage nodes registered in the metadata.

    It only serves: the layout, GC and repair belong to the elected `cairn meta` leader,
    so that one process in a cluster changes them however many gateways run."""
    from blockstore.cluster.membership import Membership
    from meta.lmdb_kv import LmdbKV
    from meta.nodes import NodeRegistry
    from meta.open import open_kv

    secret = args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET")
    if not secret:
        raise SystemExit("cairn gateway: --cluster-secret (or CAIRN_CLUSTER_SECRET) is required")
    master = gateway_master_key(args, None)
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)

    def backend() -> tuple[KV, ReplicatedBlocks, list[Callable[[], Awaitable[None]]]]:
        kv = open_kv(args.meta, lmdb_map_size=args.meta_map_size)
        blocks = ReplicatedBlocks(replicas=args.replicas, write_quorum=args.write_quorum)
        membership = Membership(NodeRegistry(kv), blocks, secret)  # reads, never installs
        jobs = [membership.run]
        if isinstance(kv, LmdbKV):
            jobs.append(metrics.free_space_gauge(kv.free_bytes))
        return kv, blocks, jobs

    banner = f"metadata:   {args.meta}; replicas {args.replicas}, write quorum {args.write_quorum}"
    master_file = master_key_path(getattr(args, "master_key_file", None))
    return _run_gateway(
        args, backend, root_credentials(state), state, banner, None, master,
        Path(master_file) if master_file else None,
    )  # fmt: skip
