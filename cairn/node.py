"""`cairn node`: one LMDB block store served over HTTP, registered in the metadata."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import ssl
import time
from pathlib import Path
from typing import Any

import uvicorn

from blockstore import auth
from blockstore.lmdb_store import LmdbBlockStore
from blockstore.memory import tune_malloc
from blockstore.scrub import ScrubProgress, scrub_loop
from blockstore.server import create_node_app

log = logging.getLogger("cairn.node")
HEARTBEAT_SECONDS = 2.0
LEASE_TTL = 6.0


def node_identity(data: Path) -> str:
    """A stable id, made on first start and kept with the data it names."""
    path = data / "node-id"
    if path.exists():
        return path.read_text().strip()
    node_id = "node-" + os.urandom(6).hex()
    path.write_text(node_id)
    return node_id


def node_key(args: argparse.Namespace, address: str) -> bytes:
    """This node's own signing key: from --node-key-file (what `cluster up` and a careful
    deployment give a node: it never holds the cluster secret), or derived from the cluster
    secret for a setup that gives every role that one secret."""
    if getattr(args, "node_key_file", None):
        return bytes.fromhex(Path(args.node_key_file).read_text().strip())
    secret = args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET")
    if not secret:
        raise SystemExit(
            "cairn node: --node-key-file, --cluster-secret or CAIRN_CLUSTER_SECRET is required"
        )
    return auth.node_key(secret, address)


def tls_options(args: argparse.Namespace) -> dict[str, Any]:
    """uvicorn's TLS settings: HTTPS with --tls-cert/--tls-key; with --tls-ca too, only
    clients holding a certificate from that CA (the cluster's gateways and meta services)
    get a connection at all."""
    if not getattr(args, "tls_cert", None):
        return {}
    opts: dict[str, Any] = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}
    if args.tls_ca:
        opts |= {"ssl_ca_certs": args.tls_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return opts


def run_node(args: argparse.Namespace) -> int:
    tune_malloc()  # LMDB's transaction pages from a warm heap, as in the gateway
    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    scheme = "https" if getattr(args, "tls_cert", None) else "http"
    url = args.advertise or f"{scheme}://{args.host}:{args.port}"
    key = node_key(args, auth.address_of(url))
    node_id = node_identity(data)
    store = LmdbBlockStore(data / "blocks", capacity=args.capacity, verify_puts=True)
    background = []
    beat = _LastBeat()
    if args.meta:
        background.append(lambda: _heartbeat(args.meta, node_id, url, args.zone, store, beat))
    scrub = ScrubProgress()
    if args.scrub_interval > 0:
        rate = args.scrub_rate * 1e6
        background.append(lambda: scrub_loop(store, args.scrub_interval, rate, scrub))
    app = create_node_app(
        store, node_id, key, auth.address_of(url), background,
        registered=beat.fresh if args.meta else None, scrub=scrub,
    )  # fmt: skip
    print(f"Cairn node {node_id} at {url} ({data})", flush=True)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
        server_header=False, http="httptools", loop="uvloop", **tls_options(args),
    )  # fmt: skip
    asyncio.run(_serve(uvicorn.Server(config), store))
    return 0


async def _serve(server: uvicorn.Server, store: LmdbBlockStore) -> None:
    try:
        await server.serve()
    finally:
        await store.close()


class _LastBeat:
    """When this node's registration last got through (readiness: within the lease)."""

    at = float("-inf")

    def fresh(self) -> bool:
        return time.monotonic() - self.at < LEASE_TTL


async def _heartbeat(
    meta_spec: str, node_id: str, url: str, zone: str, store: LmdbBlockStore, beat: _LastBeat
) -> None:
    """Register under a lease, then renew it and refresh the record (capacity, use) every
    HEARTBEAT_SECONDS. If the node dies, its lease expires after LEASE_TTL and gateways see
    it leave the live set; a lease lost while the node lives (metadata unreachable for
    longer than the TTL) is replaced by a new one."""
    from meta.api import LeaseExpired
    from meta.nodes import NodeRecord, NodeRegistry
    from meta.open import open_kv

    kv = open_kv(meta_spec)
    registry = NodeRegistry(kv)
    lease = None
    try:
        while True:
            try:
                if lease is None or not await lease.keepalive():
                    lease = await kv.grant_lease(LEASE_TTL)
                s = await store.stats()
                await registry.register(NodeRecord(node_id, url, zone, s.capacity, s.used), lease)
                beat.at = time.monotonic()
            except LeaseExpired:
                lease = None
            except Exception:  # noqa: BLE001 - the node serves blocks even if meta is away
                log.exception("heartbeat failed")
            await asyncio.sleep(HEARTBEAT_SECONDS)
    finally:
        if lease is not None:
            with contextlib.suppress(Exception):
                await lease.revoke()  # a clean stop leaves the live set at once
        await kv.close()
