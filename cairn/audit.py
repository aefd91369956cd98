"""The audit trail of `cairn admin` changes, and a reader for the whole trail.

A `cairn admin` command that changes users, keys or the cluster's nodes, and a `cairn
master-key create|rotate` given --meta or --data (its key id, never its bytes), add one entry
to the trail in the metadata (meta.audit) after it succeeded: who ran it (OS user and
host), the command, and what it named (never a secret: secrets are generated, printed
once, and not arguments). Gateways add the S3 requests that change access (policies,
ACLs, ownership, Public Access Block; gateway/app.py).

    python -m cairn.audit --meta lmdb:DATA/meta      # cairn serve's data directory
    python -m cairn.audit --meta etcd://127.0.0.1:2379 --since 2026-12-01

prints the trail as JSON lines, oldest first.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import socket
import sys

from meta import audit
from meta.api import KV
from meta.open import open_kv

# (admin command, its sub-command attribute): the commands that change something.
_CHANGES = {
    "user": ("user_command", {"create", "delete"}),
    "key": ("key_command", {"create", "allow", "deny", "rotate", "delete"}),
    "remove-node": (None, {None}),
}


def admin_change(args: argparse.Namespace) -> tuple[str, str] | None:
    """(action, target) of an admin command that changes something, else None."""
    command = getattr(args, "admin_command", None)
    if command not in _CHANGES:
        return None
    attr, verbs = _CHANGES[command]
    verb = getattr(args, attr) if attr else None
    if verb not in verbs:
        return None
    action = f"admin {command}" + (f" {verb}" if verb else "")
    named = [
        getattr(args, a, None)
        for a in ("name", "access_key", "node_id", "user")
        if getattr(args, a, None)
    ]
    buckets = getattr(args, "bucket", None) or []
    target = " ".join([*named, *(f"bucket={b}" for b in buckets)])
    return action, target


def operator() -> str:
    """Who runs this command: the OS user and host."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


async def record_admin(kv: KV, args: argparse.Namespace) -> None:
    change = admin_change(args)
    if change is not None:
        await audit.record(kv, operator(), *change)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cairn.audit", description=__doc__.split("\n")[0])
    p.add_argument("--meta", required=True, help="lmdb:DIR or etcd://host:port[,host:port]")
    p.add_argument("--since", help="a date (YYYY-MM-DD) or ISO time, UTC (default: all)")
    p.add_argument(
        "--limit", type=int, default=10_000, help="entries at most (default %(default)s)"
    )
    args = p.parse_args(argv)
    since = 0
    if args.since:
        t = datetime.datetime.fromisoformat(args.since).replace(tzinfo=datetime.UTC)
        since = int(t.timestamp() * 1000)

    async def run() -> None:
        kv = open_kv(args.meta)
        try:
            for entry in await audit.entries(kv, since, args.limit):
                print(json.dumps(entry))
        finally:
            await kv.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
