"""`cairn admin bucket list|info`: who owns each bucket, since when, its versioning, and
how many objects and bytes it holds.

Objects and bytes are the per-bucket usage counters the object service keeps up to date
with every write (meta/usage.py): reading them costs one read per bucket, never a scan of
the bucket's objects, so the list stays fast on a bucket of a million objects.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from cairn.exits import CairnExit, Exit
from cairn.tables import human_bytes, print_table
from meta.api import KV
from meta.records import BucketRecord
from meta.store import MetaStore
from meta.users import User


def _owner_name(owner: str, users: dict[str, User]) -> str:
    user = users.get(owner) if owner else None
    return user.display_name if user else (owner or "(bootstrap user)")


async def _row(meta: MetaStore, rec: BucketRecord, users: dict[str, User]) -> dict[str, Any]:
    usage = await meta.bucket_usage(rec.name)
    state = rec.config.get("versioning")
    return {
        "bucket": rec.name,
        "owner_id": rec.owner,
        "owner": _owner_name(rec.owner, users),
        "created": datetime.fromtimestamp(rec.created_ms / 1000, UTC).isoformat(),
        "region": rec.region,
        "versioning": state if isinstance(state, str) else "Unversioned",
        "objects": usage.objects,
        "bytes": usage.bytes,
    }


async def _users(kv: KV) -> dict[str, User]:
    from meta.access import AccessKeys
    from meta.users import Users

    return {u.user_id: u for u in await Users(kv, AccessKeys(kv, None)).list()}


def _print_rows(rows: list[dict[str, Any]]) -> None:
    print_table(
        ("BUCKET", "OWNER", "CREATED", "VERSIONING", "OBJECTS", "SIZE"),
        [
            (
                r["bucket"],
                r["owner"],
                r["created"][:19].replace("T", " "),
                r["versioning"],
                r["objects"],
                human_bytes(r["bytes"]),
            )
            for r in rows
        ],  # fmt: skip
        empty="no buckets",
    )


async def bucket(args: argparse.Namespace, kv: KV) -> int:
    meta, users = MetaStore(kv), await _users(kv)
    wants_json = bool(args.json or args.json_all)
    if args.bucket_command == "list":
        rows = [await _row(meta, rec, users) for rec in await meta.list_buckets()]
        if wants_json:
            print(json.dumps(rows, indent=2, sort_keys=True))
        else:
            _print_rows(rows)
        return 0
    rec = await meta.get_bucket(args.bucket)
    if rec is None:
        raise CairnExit(Exit.REFUSED, f"no such bucket: {args.bucket}")
    row = await _row(meta, rec, users)
    row["config"] = sorted(k for k in rec.config if k != "versioning")
    if wants_json:
        print(json.dumps(row, indent=2, sort_keys=True))
    else:
        width = max(map(len, row))
        for name, value in row.items():
            shown = human_bytes(value) + f" ({value})" if name == "bytes" else value
            print(f"{name + ':':<{width + 2}}{', '.join(shown) if name == 'config' else shown}")
    return 0
