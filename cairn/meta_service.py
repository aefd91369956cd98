"""`cairn meta`: the housekeeping service of a cluster, and the only one.

Several may run; they elect one leader through the metadata (meta.election), and only the
leader works: it installs layouts when nodes join or have been gone past the grace period,
and runs the housekeeper (cairn/housekeeper.py: journal recovery, upload expiry, GC,
repair). Gateways do none of this, so a cluster needs at least one `cairn meta` (`cairn
cluster up` always starts one). The election is a lease in the metadata (etcd's, or
LmdbKV's for `--meta lmdb:DIR`): killing the leader hands over when its lease expires.
Each process answers GET /status with whether it leads, for operators and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blockstore.cluster.membership import Membership
from blockstore.cluster.replicated import ReplicatedBlocks
from cairn import cluster_metrics, readiness
from cairn.housekeeper import Housekeeper, Schedule
from gateway import health, metrics
from meta.election import Election
from meta.nodes import NodeRegistry
from meta.open import open_kv
from meta.store import MetaStore

log = logging.getLogger("cairn.meta")


async def _work(election: Election, membership: Membership, keeper: Housekeeper) -> None:
    while True:
        await election.step()
        try:
            await membership.refresh()  # installs layouts only while this process leads
        except Exception:  # noqa: BLE001 - retried on the next round
            log.exception("membership refresh failed")
        await keeper.round()  # acts only while this process leads
        # A leader renews its lease every half second (at most a fifth of the TTL); a
        # standby campaigns every 0.1 s, so it takes over right after the lease expires.
        await asyncio.sleep(min(0.5, election.ttl_ms / 5000) if election.is_leader else 0.1)


def run_meta(args: argparse.Namespace) -> int:
    secret = args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET")
    if not secret:
        raise SystemExit("cairn meta: --cluster-secret (or CAIRN_CLUSTER_SECRET) is required")
    kv = open_kv(args.meta, lmdb_map_size=args.meta_map_size)
    holder = f"{socket.gethostname()}:{args.port}:{os.getpid()}"
    election = Election(kv, "housekeeping", holder, ttl=args.lease_ttl)
    blocks = ReplicatedBlocks(replicas=args.replicas, write_quorum=args.write_quorum)
    membership = Membership(
        NodeRegistry(kv),
        blocks,
        secret,
        manage_layout=lambda: election.is_leader,
        node_grace=args.node_grace,
    )
    metrics.start_meta_metrics()
    meta = MetaStore(metrics.timed_kv(kv), gc_grace_ms=int(args.gc_grace * 1000))
    schedule = Schedule.of(args)
    keeper = Housekeeper(meta, blocks, schedule, is_leader=lambda: election.is_leader)
    state = cluster_metrics.CachedSnapshot(
        lambda: cluster_metrics.snapshot(meta, blocks, keeper, election.is_leader)
    )
    latest: list[dict | None] = [None]
    REGISTRY.register(metrics.StateCollector(lambda: latest[0]))  # type: ignore[arg-type]

    async def prometheus(request: Request) -> Response:
        """This process's metrics and the store's state (taken at most every 5 s)."""
        latest[0] = await state.get()
        metrics.flush()  # the metadata timings recorded since the last scrape
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def status(request: Request) -> Response:
        body = {
            "holder": holder,
            "leader": election.is_leader,
            "leader_id": await election.leader(),
        }
        return Response(json.dumps(body), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_work(election, membership, keeper))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await election.resign()
            await blocks.close()
            await kv.close()

    ready = health.Readiness(lambda: readiness.meta_service_probe(kv))

    async def health_check(request: Request) -> Response:
        return await health.answer(request.url.path, request.method, ready)

    routes = [
        Route("/status", status),
        Route("/metrics", prometheus),
        Route(health.PREFIX + "{check}", health_check, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    print(f"Cairn meta service {holder} on {args.meta}", flush=True)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
        server_header=False, loop="uvloop",
    )  # fmt: skip
    uvicorn.Server(config).run()
    return 0
