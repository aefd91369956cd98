"""`cairn admin`: look at and change the cluster through its metadata.

The metadata is named by ``--meta`` (``lmdb:DIR`` or ``etcd://...``) or by ``--data DIR``,
the data directory of a `cairn serve` (its embedded metadata in DIR/meta and its master key
in DIR/master.key; LMDB lets this process open it while the server runs). Every command
prints a table for people (cairn/tables.py), or with ``--json`` one JSON document for
scripts; an error prints one line (and with ``--json`` also ``{"error": ...}``) and exits
with the status of its kind (cairn/exits.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import lmdb

from blockstore.cluster.placement import Layout
from cairn import audit
from cairn.admin_nodes import node_rows, print_nodes, serve_node_rows
from cairn.exits import CairnExit, Exit
from cairn.metadata import cluster_spec, open_existing, serve_spec
from cairn.tables import print_table
from meta import audit as meta_audit
from meta.access import (
    BOOTSTRAP_USER_ID,
    AccessError,
    AccessKey,
    AccessKeys,
    grants_for,
    summarize,
)
from meta.api import KV, MetaError, MetaUnavailable
from meta.datakeys import rewrap_all
from meta.nodes import NodeRegistry
from meta.sealing import (
    MasterKey,
    MasterKeyError,
    add_kms_key,
    load_master_key,
    rotate_master_key_file,
    write_master_key,
)
from meta.sealing import master_key_path as configured_master_key
from meta.users import User, Users


class AdminError(Exception):
    """A request the operator must change: printed as it is, exit status 1."""


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "json_all", False))


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if _wants_json(args) else text)


# ---------------------------------------------------------------------------------------
# Where the metadata and the master key are


def _meta_spec(args: argparse.Namespace) -> str:
    if args.cluster:
        return cluster_spec(args)
    return str(args.meta) if args.meta else serve_spec(args.data)


def _master_key(args: argparse.Namespace) -> MasterKey:
    """--master-key-file, $CAIRN_MASTER_KEY_FILE, else --data DIR's master.key. Never made
    here: a key sealed under a master key the gateways lack would be refused by all."""
    path = configured_master_key(args.master_key_file)
    if path is not None:
        return load_master_key(path)
    if args.cluster and (Path(args.cluster) / "master.key").exists():
        return load_master_key(Path(args.cluster) / "master.key")
    if args.data:
        own = Path(args.data) / "master.key"
        if not own.exists():
            raise AdminError(
                f"{own} does not exist: give the server's --master-key-file FILE (or set "
                "CAIRN_MASTER_KEY_FILE)"
            )
        return load_master_key(own)
    raise AdminError(
        "making or rotating a key needs the master key: give --master-key-file FILE (or set "
        "CAIRN_MASTER_KEY_FILE), or --data DIR of a cairn serve"
    )


def _needs_master(args: argparse.Namespace) -> bool:
    return (args.admin_command, getattr(args, "user_command", None)) == ("user", "create") or (
        args.admin_command == "key" and args.key_command in ("create", "rotate")
    )


# ---------------------------------------------------------------------------------------
# Nodes and layout


async def _nodes(args: argparse.Namespace, registry: NodeRegistry) -> int:
    rows = await (serve_node_rows(args) if args.data else node_rows(args, registry))
    if _wants_json(args):
        _emit(args, rows, "")
    else:
        print_nodes(rows)
    return 0


async def _layout(args: argparse.Namespace, registry: NodeRegistry) -> int:
    current, previous, _ = await registry.layout()
    if current is None:
        _emit(args, {"layout": None}, "no layout yet")
        return 0
    layout = Layout.from_dict(current)
    counts = Counter(n for a in layout.assignments for n in a)
    data = {
        "version": layout.version,
        "replicas": layout.replicas,
        "partitions": len(layout.assignments),
        "nodes": dict(sorted(counts.items())),
        "previous_version": previous["version"] if previous else None,
    }
    if _wants_json(args):
        _emit(args, data, "")
        return 0
    was = f" (previous: v{previous['version']})" if previous else ""
    print(
        f"layout v{layout.version}, R={layout.replicas}, {len(layout.assignments)} partitions{was}"
    )
    print_table(("NODE", "PARTITIONS"), sorted(counts.items()), empty="no nodes in the layout")
    return 0


async def _remove_node(args: argparse.Namespace, registry: NodeRegistry) -> int:
    if args.node_id not in {rec.node_id for rec in await registry.nodes()}:
        raise CairnExit(Exit.REFUSED, f"no such node: {args.node_id} (see `cairn admin nodes`)")
    await registry.remove(args.node_id)
    _emit(
        args,
        {"removed": args.node_id},
        f"removed {args.node_id}; the layout manager installs a layout without it",
    )
    return 0


# ---------------------------------------------------------------------------------------
# Users and keys


def _key_json(key: AccessKey, users: dict[str, User]) -> dict[str, Any]:
    user = users.get(key.user_id)
    return {
        "access_key": key.access_key,
        "user_id": key.user_id,
        "display_name": user.display_name if user else None,
        "buckets": key.buckets,
        "bootstrap": key.bootstrap,
    }


def _key_line(key: AccessKey, users: dict[str, User]) -> str:
    user = users.get(key.user_id)
    name = user.display_name if user else f"{key.user_id} (deleted)"
    tail = "  (bootstrap key, from the gateways' environment)" if key.bootstrap else ""
    return f"{key.access_key}  buckets={summarize(key.buckets)}  user={name}{tail}"


def _created_text(user: User, key: AccessKey, secret: str) -> str:
    return "\n".join(
        [
            f"user:       {user.display_name}",
            f"user id:    {user.user_id}",
            f"access key: {key.access_key}",
            f"secret key: {secret}",
            f"buckets:    {summarize(key.buckets)}",
        ]
    )


def _created_json(user: User, key: AccessKey, secret: str) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "display_name": user.display_name,
        "email": user.email,
        "access_key": key.access_key,
        "secret_key": secret,
        "buckets": key.buckets,
    }


async def _user_named(users: Users, who: str | None) -> User:
    """--user NAME (or id); none: the bootstrap user, whose keys all were before users."""
    user = await users.find(who or BOOTSTRAP_USER_ID)
    if user is None:
        raise AdminError(f"no such user: {who}")
    return user


async def _user_cmd(args: argparse.Namespace, users: Users) -> int:
    if args.user_command == "create":
        user = await users.create(args.name, args.email)
        key, secret = await users.create_key(user)
        _emit(args, _created_json(user, key, secret), _created_text(user, key, secret))
    elif args.user_command == "list":
        await _user_list(args, users)
    elif args.user_command == "delete":
        user, gone = await users.delete(args.name)
        _emit(
            args,
            {"deleted": user.display_name, "user_id": user.user_id, "access_keys_deleted": gone},
            f"deleted user {user.display_name} and {len(gone)} key(s)",
        )
    return 0


async def _user_list(args: argparse.Namespace, users: Users) -> None:
    keys = await users.keys.list()
    rows = []
    for u in sorted(await users.list(), key=lambda u: (not u.bootstrap, u.display_name)):
        own = [k.access_key for k in keys if k.user_id == u.user_id]
        rows.append(
            {"user_id": u.user_id, "display_name": u.display_name, "email": u.email,
             "bootstrap": u.bootstrap, "access_keys": own}
        )  # fmt: skip
    if _wants_json(args):
        _emit(args, rows, "")
        return
    print_table(
        ("USER", "ID", "EMAIL", "KEYS", ""),
        [
            (
                r["display_name"],
                r["user_id"],
                r["email"],
                len(r["access_keys"]),
                "bootstrap user" if r["bootstrap"] else "",
            )
            for r in rows
        ],  # fmt: skip
        empty="no users",
    )


def _print_keys(keys: list[AccessKey], users: dict[str, User]) -> None:
    rows = []
    for key in keys:
        user = users.get(key.user_id)
        name = user.display_name if user else f"{key.user_id} (deleted)"
        note = "bootstrap key, from the gateways' environment" if key.bootstrap else ""
        rows.append((key.access_key, name, summarize(key.buckets), note))
    print_table(("ACCESS KEY", "USER", "BUCKETS", ""), rows, empty="no access keys")


def _rights_of(args: argparse.Namespace) -> list[str] | None:
    chosen = [r for r in ("read", "write", "owner") if getattr(args, r, False)]
    return chosen or None


async def _key_cmd(args: argparse.Namespace, users: Users) -> int:
    keys = users.keys
    by_id = {u.user_id: u for u in await users.list()}
    if args.key_command == "create":
        user = await _user_named(users, args.user)
        if args.bucket is None and _rights_of(args):
            raise AdminError("--read/--write/--owner narrow a key on a bucket: give --bucket")
        key, secret = await users.create_key(user, grants_for(args.bucket, _rights_of(args)))
        _emit(args, _created_json(user, key, secret), _created_text(user, key, secret))
    elif args.key_command in ("allow", "deny"):
        change = keys.allow if args.key_command == "allow" else keys.deny
        key = None
        for bucket in args.bucket:
            key = await change(args.access_key, bucket, _rights_of(args))
        assert key is not None  # --bucket is required
        _emit(args, _key_json(key, by_id), _key_line(key, by_id))
    elif args.key_command == "rotate":
        key, secret = await keys.rotate(args.access_key)
        _emit(
            args,
            {"access_key": key.access_key, "secret_key": secret, "user_id": key.user_id},
            f"access key: {key.access_key}\nsecret key: {secret}",
        )
    elif args.key_command == "list":
        listed = await keys.list()
        if args.user:
            owner = await _user_named(users, args.user)
            listed = [k for k in listed if k.user_id == owner.user_id]
        if _wants_json(args):
            _emit(args, [_key_json(k, by_id) for k in listed], "")
        else:
            _print_keys(listed, by_id)
    elif args.key_command == "delete":
        gone = await keys.delete(args.access_key)
        if gone is None:
            raise AdminError(f"no such key: {args.access_key}")
        note = (
            " (only its record: gateways accept the bootstrap key while their environment names it)"
            if gone.bootstrap
            else ""
        )
        _emit(args, {"deleted": args.access_key}, f"deleted {args.access_key}{note}")
    return 0


# ---------------------------------------------------------------------------------------


async def _run(args: argparse.Namespace, kv: KV) -> int:
    registry = NodeRegistry(kv)
    if args.admin_command == "nodes":
        return await _nodes(args, registry)
    if args.admin_command == "layout":
        return await _layout(args, registry)
    if args.admin_command == "remove-node":
        return await _remove_node(args, registry)
    if args.admin_command in ("status", "fsck", "bucket"):
        return await _inspect(args, kv)
    if args.admin_command in ("gc", "repair", "scrub"):
        from cairn.jobs import run_job

        return await run_job(args, kv)
    master = _master_key(args) if _needs_master(args) else None
    users = Users(kv, AccessKeys(kv, master))
    await users.record_bootstrap("")  # before any gateway started: its name is taken
    if args.admin_command == "user":
        return await _user_cmd(args, users)
    return await _key_cmd(args, users)


async def _inspect(args: argparse.Namespace, kv: KV) -> int:
    from cairn import buckets, fsck, status

    if args.admin_command == "status":
        return await status.status(args, kv)
    if args.admin_command == "fsck":
        return await fsck.fsck(args, kv)
    return await buckets.bucket(args, kv)


async def _admin(args: argparse.Namespace) -> int:
    if args.admin_command == "kms":
        return _kms_cmd(args)
    kv = open_existing(_meta_spec(args))
    try:
        if args.admin_command == "rewrap":
            code = await _rewrap(args, kv)
        else:
            code = await _run(args, kv)
        if code == 0:
            await audit.record_admin(kv, args)  # who changed what (cairn/audit.py)
        return code
    finally:
        await kv.close()


def _as_exit(exc: Exception) -> CairnExit:
    """Each failure as one line with the exit status of its kind (cairn/exits.py)."""
    if isinstance(exc, CairnExit):
        return exc
    message = str(exc) or type(exc).__name__
    if isinstance(exc, MetaUnavailable):
        return CairnExit(Exit.META_UNREACHABLE, f"the metadata store does not answer: {message}")
    if isinstance(exc, MetaError):
        return CairnExit(Exit.META_UNREACHABLE, f"the metadata store failed: {message}")
    return CairnExit(Exit.REFUSED, message)


# ---------------------------------------------------------------------------------------
# Server-side encryption: KMS keys and data-key rewrapping


def _master_key_file(args: argparse.Namespace) -> Path:
    """Where the keyring is: --master-key-file, $CAIRN_MASTER_KEY_FILE, --data DIR's."""
    path = configured_master_key(args.master_key_file)
    if path is not None:
        return Path(path)
    if args.data:
        return Path(args.data) / "master.key"
    raise AdminError("give --master-key-file FILE (or CAIRN_MASTER_KEY_FILE), or --data DIR")


def _kms_cmd(args: argparse.Namespace) -> int:
    """`cairn admin kms create NAME | list`: named keys of SSE-KMS in the master keyring.
    Gateways see a new key within a second (they re-read the file when it changes)."""
    path = _master_key_file(args)
    if args.kms_command == "create":
        add_kms_key(path, args.name)
        _emit(args, {"kms_key_id": args.name}, f"KMS key {args.name} added to {path}")
        return 0
    names = [name for name, _ in load_master_key(path).kms]
    _emit(args, {"kms_keys": names}, "\n".join(names) if names else "no KMS keys")
    return 0


async def _rewrap(args: argparse.Namespace, kv: KV) -> int:
    """`cairn admin rewrap`: after `cairn master-key rotate`, seal every SSE-S3 data key
    under the new master key, so the old one can be retired; no object data is rewritten."""
    master = _master_key(args)
    count = await rewrap_all(kv, master)
    _emit(args, {"rewrapped": count, "master_key": master.key_id},
          f"{count} data key(s) now sealed under master key {master.key_id}")  # fmt: skip
    return 0


def admin(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_admin(args))
    except BrokenPipeError:  # `cairn admin ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CairnExit, AdminError, AccessError, MasterKeyError, MetaError, ValueError, OSError, lmdb.Error) as exc:  # fmt: skip
        failure = _as_exit(exc)
        print(f"cairn admin: {failure}", file=sys.stderr)
        if _wants_json(args):
            print(json.dumps({"error": str(failure), "exit": int(failure.code)}))
        return int(failure.code)


def master_key(args: argparse.Namespace) -> int:
    """`cairn master-key create|rotate FILE`: the key that seals secrets, kept outside
    the metadata. Every gateway needs the same file (--master-key-file). With --meta or
    --data the change also goes to that metadata's audit trail (the new key's id, never
    its bytes); without them nothing but the file is written."""
    if not (args.meta or args.data):
        return _write_master_key_file(args)[0]
    spec = str(args.meta) if args.meta else serve_spec(args.data)
    try:
        return asyncio.run(_master_key_recorded(args, spec))
    except MetaError as exc:
        raise _as_exit(exc) from None


async def _master_key_recorded(args: argparse.Namespace, spec: str) -> int:
    """The file change, then its audit entry; the metadata is asked first, so that a
    trail that cannot be written refuses the command before the file changes."""
    kv = open_existing(spec)
    try:
        await meta_audit.entries(kv, limit=1)
        code, key_id = _write_master_key_file(args)
        if code == 0:
            action = f"master-key {args.master_key_command}"
            await meta_audit.record(kv, audit.operator(), action, f"key_id={key_id}")
        return code
    finally:
        await kv.close()


def _write_master_key_file(args: argparse.Namespace) -> tuple[int, str]:
    """Create or rotate the file: (exit status, the new key's id)."""
    try:
        if args.master_key_command == "create":
            made = MasterKey.generate()
            write_master_key(args.file, made)
            print(f"master key {made.key_id} written to {args.file} (mode 0600)")
            print("give the same file to every gateway (--master-key-file) and keep a copy:")
            print("without it no stored access key can be used")
            return 0, made.key_id
        rotated = rotate_master_key_file(args.file)
        print(f"new master key {rotated.key_id} in front of {len(rotated.keys) - 1} older")
        print("copy the file to every gateway and restart them: a gateway re-seals the")
        print("stored secrets under the new key at start; the older keys still open them")
        return 0, rotated.key_id
    except FileExistsError:
        print(f"cairn master-key: {args.file} exists; it is never overwritten", file=sys.stderr)
    except (MasterKeyError, OSError) as exc:
        print(f"cairn master-key: {exc}", file=sys.stderr)
    return 1, ""
