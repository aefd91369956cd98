"""`cairn admin`: look at and change the cluster through its metadata."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter

from blockstore.client import HttpBlockStore
from blockstore.cluster.placement import Layout
from meta.access import AccessKeys, grants_for
from meta.nodes import NodeRegistry
from meta.open import open_kv


async def _admin(args: argparse.Namespace) -> int:
    kv = open_kv(args.meta)
    registry = NodeRegistry(kv)
    try:
        if args.admin_command == "nodes":
            secret = args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET", "")
            live = await registry.live()
            for rec in await registry.nodes():
                client = HttpBlockStore(rec.url, secret)
                up = await client.health()
                await client.close()
                print(
                    f"{rec.node_id}  {rec.url}  zone={rec.zone or '-'}  "
                    f"used={rec.used / 2**30:.2f}/{rec.capacity / 2**30:.1f} GiB  "
                    f"{'up' if up else 'DOWN'}  "
                    f"{'lease alive' if rec.node_id in live else 'lease EXPIRED'}"
                )
        elif args.admin_command == "layout":
            current, previous, _ = await registry.layout()
            if current is None:
                print("no layout yet")
                return 0
            layout = Layout.from_dict(current)
            counts = Counter(n for a in layout.assignments for n in a)
            print(
                f"layout v{layout.version}, R={layout.replicas}, {len(layout.assignments)} partitions"
            )
            for node, n in sorted(counts.items()):
                print(f"  {node}: {n} partitions")
            if previous:
                print(f"  (previous: v{previous['version']})")
        elif args.admin_command == "key":
            from meta.sealing import load_master_key, master_key_path

            path = master_key_path(None)
            return await _keys(args, AccessKeys(kv, load_master_key(path) if path else None))
        elif args.admin_command == "remove-node":
            await registry.remove(args.node_id)
            print(f"removed {args.node_id}; the layout manager installs a layout without it")
        return 0
    finally:
        await kv.close()


async def _keys(args: argparse.Namespace, keys: AccessKeys) -> int:
    if args.key_command == "create":
        key, secret = await keys.create(buckets=grants_for(args.bucket, None))
        print(f"access key: {key.access_key}")
        print(f"secret key: {secret}")
        print(f"buckets:    {', '.join(key.buckets)}")
    elif args.key_command == "list":
        for key in await keys.list():
            print(f"{key.access_key}  buckets={','.join(key.buckets)}")
    elif args.key_command == "delete":
        if not await keys.delete(args.access_key):
            print(f"no such key: {args.access_key}")
            return 1
        print(f"deleted {args.access_key}")
    return 0


def admin(args: argparse.Namespace) -> int:
    return asyncio.run(_admin(args))
