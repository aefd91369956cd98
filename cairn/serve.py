"""Running a gateway: `cairn serve` (everything in one process) and `cairn gateway`
(the S3 front end alone, talking to storage nodes listed in the metadata)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import string
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import uvicorn

from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from blockstore.memory import trim_when_idle, tune_malloc
from cairn import cluster_metrics, console_setup, pki, preflight, readiness
from cairn.exits import CairnExit, Exit
from cairn.housekeeper import Housekeeper, Schedule
from gateway import metrics
from gateway.access_log import AccessLog
from gateway.app import create_app
from gateway.balance import BalancedServer, ConnectionCounts
from gateway.context import Services
from gateway.health import Readiness
from gateway.http_protocol import CairnHttpProtocol, HttpLimits
from gateway.keyring import KeyRing
from gateway.objects.service import ObjectService
from gateway.workers import WorkerFailed, run_workers
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


def own_certificate(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """--tls-cert and --tls-key: the operator's certificate (PEM) and key, checked now."""
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if not cert and not key:
        return None
    if not (cert and key):
        raise CairnExit(Exit.REFUSED, "--tls-cert and --tls-key go together")
    for path in (cert, key):
        if not os.access(path, os.R_OK):
            raise CairnExit(Exit.REFUSED, f"cannot read {path}")
    return Path(cert), Path(key)


def _tls(args: argparse.Namespace, tls_dir: Path) -> tuple[str, dict[str, str]]:
    """The scheme and uvicorn's TLS settings: the operator's certificate, or --tls's own."""
    own = own_certificate(args)
    if own is None and not args.tls:
        return "http", {}
    cert, key = own or ensure_certificate(tls_dir, args.host)
    return "https", {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def listen_first(args: argparse.Namespace) -> socket.socket:
    """The S3 socket, bound before any file is written; the metrics port checked too."""
    own_certificate(args)
    sock = preflight.listen(args.host, args.port, "the S3", "--port")
    try:
        if args.metrics_port:
            preflight.port_free(args.host, args.metrics_port, "the metrics", "--metrics-port")
        if args.console_port:
            preflight.port_free(args.host, args.console_port, "the console", "--console-port")
    except CairnExit:
        sock.close()
        raise
    return sock


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
    sock: socket.socket,
    master_file: Path | None = None,
) -> int:
    """Serve S3 in args.workers processes; with a `housekeeping` schedule, worker 0 also
    runs the housekeeper (cairn serve), without one nothing but S3 (cairn gateway)."""
    scheme, ssl = _tls(args, tls_dir)
    cert = Path(ssl["ssl_certfile"]) if ssl else None
    console_sock = (
        preflight.listen(args.host, args.console_port, "the console", "--console-port")
        if args.console_port
        else None
    )
    counts = ConnectionCounts(args.workers)  # shared by the workers forked below
    _announce(scheme, args, credentials)
    print(f"  {banner}; {args.workers} worker(s)", flush=True)
    if console_sock is not None:
        print(f"  console:    {scheme}://{args.host}:{args.console_port}/", flush=True)

    if args.metrics_port or console_sock is not None:  # the console charts request rates
        metrics.enable(tls_dir / "metrics")
    if args.metrics_port:
        metrics.serve(args.host, args.metrics_port)
        print(f"  metrics:    http://{args.host}:{args.metrics_port}/metrics", flush=True)

    def work(index: int, sock: socket.socket) -> None:
        tune_malloc()
        metrics.start_worker()
        if index > 0:  # every worker sees the same cluster: worker 0 alone tells of it
            logging.getLogger("cairn.membership").setLevel(logging.ERROR)
        kv, blocks, background = backend()
        meta = MetaStore(metrics.timed_kv(kv), gc_grace_ms=int(args.gc_grace * 1000))
        background.append(metrics.worker_process_gauges)
        background.append(metrics.flush_loop)
        objects = ObjectService(
            meta, blocks, block_size=args.block_size, inline_max=args.inline_max,
            keys=KeyringFile(master, master_file),
        )  # fmt: skip
        services = Services(
            objects=objects,
            region=args.region,
            ssec_over_http=getattr(args, "allow_ssec_over_http", False),
        )
        keeper = None
        if housekeeping and index == 0:  # one housekeeper: worker 0 of cairn serve
            keeper = Housekeeper(meta, blocks, housekeeping)
            background.append(keeper.run)
            state = partial(cluster_metrics.snapshot, meta, blocks, keeper, True)
            background.append(metrics.publish_state(state, cluster_metrics.SNAPSHOT_SECONDS))
        keyring = KeyRing({credentials.access_key: credentials.secret_key}, AccessKeys(kv, master))
        background.append(keyring.run)
        background.append(
            lambda: trim_when_idle(lambda: (objects.bodies_started, objects.bodies_running))
        )
        app = create_app(
            services, keyring, domain=args.domain, background=background,
            access=AccessLog.open(args.access_log),
            readiness=Readiness(lambda: readiness.gateway_probe(kv, blocks)),
        )  # fmt: skip
        config = _uvicorn_config(app, args, ssl)
        server = BalancedServer(config, sock, index, counts)
        console = None
        if console_sock is not None and index == 0:  # the console lives in worker 0
            mode = "serve" if housekeeping else "cluster"
            sources = console_setup.console_sources(meta, kv, blocks, keyring, mode, keeper)
            # Its own S3 requests go over loopback and check --tls's self-signed
            # certificate (made for 127.0.0.1 too); an operator's certificate names the
            # public host, not 127.0.0.1, so it is not checked on that loopback hop.
            self_signed = cert is not None and own_certificate(args) is None
            verify: str | bool = str(cert) if self_signed else cert is None
            console_app = console_setup.console_app(args, sources, cert, verify)
            console_config = _uvicorn_config(console_app, args, ssl)
            console = (uvicorn.Server(console_config), console_sock)
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=config.get_loop_factory()) as runner,
        ):
            runner.run(_serve(server, kv, blocks, console))

    try:
        run_workers(args.workers, sock, work)
    except WorkerFailed as exc:
        raise CairnExit(Exit.WORKER_FAILED, str(exc)) from None
    print("Cairn stopped.", flush=True)
    return 0


async def _serve(
    server: uvicorn.Server,
    kv: KV,
    blocks: ReplicatedBlocks,
    console: tuple[uvicorn.Server, socket.socket] | None = None,
) -> None:
    try:
        if console is not None:
            await console_setup.serve_beside(server, *console)
        else:
            await server.serve()
    finally:
        await blocks.close()
        await kv.close()


def serve(args: argparse.Namespace) -> int:
    """Gateway, embedded metadata and N local block stores in one process."""
    from meta.lmdb_kv import LmdbKV

    data = Path(args.data).resolve()
    preflight.writable(data, "the data directory")
    sock = listen_first(args)
    data.mkdir(parents=True, exist_ok=True)

    def backend() -> tuple[KV, ReplicatedBlocks, list[Callable[[], Awaitable[None]]]]:
        stores = {
            f"node-{i}": LmdbBlockStore(
                data / "blocks" / f"node-{i}", map_size=args.block_map_size, verify_puts=False
            )
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
    creds = root_credentials(data)
    return _run_gateway(args, backend, creds, data, banner, schedule, master, sock, master_file)


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
    preflight.writable(state, "the state directory")
    preflight.metadata_reachable(args.meta)
    sock = listen_first(args)
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
    creds = root_credentials(state)
    return _run_gateway(
        args, backend, creds, state, banner, None, master, sock,
        Path(master_file) if master_file else None,
    )  # fmt: skip
