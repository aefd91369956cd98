"""The `cairn` command: argument parsing only; each command lives with its component.

cairn serve     gateway + metadata + block stores in one process (cairn/serve.py)
cairn gateway   the S3 front end alone (cairn/serve.py)
cairn node      one storage node (cairn/node.py)
cairn meta      a cluster's housekeeper, one elected leader (cairn/meta_service.py)
cairn admin     nodes, layout, users and keys (cairn/admin.py)
cairn master-key  the key that seals stored secrets (cairn/admin.py)
cairn cluster   a local cluster of processes (cairn/launcher.py)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TypeAlias

from cairn.exits import CairnExit, Exit
from gateway.objects.service import DEFAULT_BLOCK_SIZE, DEFAULT_INLINE_MAX


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help, unless its text already says it, or there is
    none to say (a flag that is off, an option that is unset)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action) or text


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: subparsers inherit this class, so all show defaults."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)


def _gateway_options(s: argparse.ArgumentParser) -> None:
    """What serving S3 needs, in `cairn serve` and `cairn gateway` alike."""
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=9000, help="S3 port")
    s.add_argument(
        "--tls", action="store_true",
        help="HTTPS with a self-signed certificate made on first start (DATA/tls)",
    )  # fmt: skip
    s.add_argument("--tls-cert", help="HTTPS with your own certificate (PEM, chain first)")
    s.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    s.add_argument(
        "--allow-ssec-over-http", action="store_true",
        help="accept SSE-C customer keys over plain HTTP (tests only; AWS refuses them)",
    )  # fmt: skip
    s.add_argument("--region", default="us-east-1", help="the region S3 clients sign for")
    s.add_argument(
        "--domain",
        help="serve virtual-host style requests for BUCKET.DOMAIN (default: path style only)",
    )
    s.add_argument(
        "--block-size", type=int, default=DEFAULT_BLOCK_SIZE, help="bytes (default %(default)s)"
    )
    s.add_argument(
        "--inline-max", type=int, default=DEFAULT_INLINE_MAX, help="bytes (default %(default)s)"
    )
    s.add_argument(
        "--gc-grace", type=float, default=3600.0,
        help="seconds an unreferenced block is kept before GC may delete it; writes stamp "
        "the blocks they release with it (default %(default)s; give a cluster's gateways "
        "and meta services the same value)",
    )  # fmt: skip
    s.add_argument(
        "--metrics-port", type=int, default=0,
        help="serve Prometheus metrics of all workers on this port at /metrics (0: off)",
    )  # fmt: skip
    s.add_argument(
        "--access-log", default="-", metavar="FILE",
        help="one JSON line per request: '-' is stderr, 'off' none, else a file appended to "
        "(default %(default)s)",
    )  # fmt: skip
    s.add_argument("--log-level", default="warning", help=_LOG_LEVELS)
    _console_option(s)
    _master_key_option(s)
    s.add_argument(
        "--workers", type=int, default=None,
        help="processes serving requests (default: one per core, at most 8)",
    )  # fmt: skip
    _connection_limits(s)


def _console_option(s: argparse.ArgumentParser) -> None:
    """The web console (docs/console.md): off unless given a port."""
    s.add_argument(
        "--console-port", type=int, default=0,
        help="serve the web console on this port (sign in with S3 keys; 0: off; "
        "default %(default)s)",
    )  # fmt: skip


def _connection_limits(s: argparse.ArgumentParser) -> None:
    """What one connection may ask of a worker (gateway/http_protocol.py::HttpLimits)."""
    s.add_argument(
        "--max-request-line", type=int, default=16 * 1024,
        help="bytes of a request target; longer: 400 RequestHeaderSectionTooLarge "
        "(default %(default)s)",
    )  # fmt: skip
    s.add_argument(
        "--max-header-bytes", type=int, default=64 * 1024,
        help="bytes of a request's header fields; more: 400 RequestHeaderSectionTooLarge "
        "(default %(default)s; AWS allows 8192)",
    )  # fmt: skip
    s.add_argument(
        "--header-timeout", type=float, default=20.0,
        help="seconds a request's head may take to arrive; later: 400 RequestTimeout and "
        "the connection closed (default %(default)s)",
    )  # fmt: skip
    s.add_argument(
        "--keep-alive-timeout", type=float, default=30.0,
        help="seconds an idle connection is kept open between requests (default %(default)s)",
    )  # fmt: skip
    s.add_argument(
        "--max-connections", type=int, default=1000,
        help="connections per worker; a request beyond them: 503 SlowDown "
        "(default %(default)s)",
    )  # fmt: skip


_LOG_LEVELS = "debug, info, warning or error"

_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str) -> int:
    """Bytes, or a number with a binary suffix: 1048576, 512MiB, 64G, 1T."""
    lowered = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = lowered[-1:] if lowered[-1:] in _SIZE_UNITS else ""
    number = lowered[: len(lowered) - len(unit)]
    try:
        size = int(float(number) * _SIZE_UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None
    if size < 1 << 16:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 64KiB")
    return size


def _meta_map_size(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--meta-map-size", type=_size, default=64 << 30,
        help="size of the LMDB metadata map (sparse: only what is written takes disk); "
        "a full map answers writes 503 SlowDown (default 64GiB)",
    )  # fmt: skip


def _master_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--master-key-file",
        help="the key that seals access-key secrets in the metadata (or CAIRN_MASTER_KEY_FILE; "
        "cairn serve: default DATA/master.key, made on first start)",
    )


def _housekeeping_options(s: argparse.ArgumentParser) -> None:
    """The housekeeper's schedule (cairn/housekeeper.py): `cairn serve` and `cairn meta`,
    the two places it runs."""
    s.add_argument(
        "--gc-interval", type=float, default=30.0,
        help="seconds between GC passes (journal recovery, upload expiry, GC; "
        "default %(default)s; 0: never)",
    )  # fmt: skip
    s.add_argument(
        "--repair-interval", type=float, default=300.0,
        help="seconds between passes that copy missing replicas and drop misplaced ones "
        "(default %(default)s; 0: never)",
    )  # fmt: skip
    s.add_argument(
        "--upload-expiry", type=float, default=7 * 86400,
        help="seconds after which an unfinished multipart upload is aborted "
        "(default %(default)s: 7 days)",
    )  # fmt: skip
    s.add_argument(
        "--lifecycle-day-seconds", type=float, default=None, metavar="N",
        help="TEST OPTION: a lifecycle day lasts N seconds (no rounding to midnight), and "
        "lifecycle runs every N/10 seconds, so expiry rules can be tested quickly "
        "(docs/lifecycle.md); never in production",
    )  # fmt: skip


def _node_grace(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--node-grace", type=float, default=600.0,
        help="seconds without heartbeats (and with its lease expired) before a node leaves "
        "the layout (default %(default)s)",
    )  # fmt: skip


def _run(module: str, name: str):  # type: ignore[no-untyped-def]
    """Import a command's module only when it runs: `cairn node` needs no gateway code."""

    def call(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), name)(args))

    return call


# argparse has no public name for the object add_subparsers() returns.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _serve_command(sub: Subparsers) -> None:
    s = sub.add_parser("serve", help="gateway + metadata + block stores in one process")
    s.add_argument("--data", default="./data", help="data directory (default ./data)")
    s.add_argument("--nodes", type=int, default=1, help="local LMDB block stores (directories)")
    s.add_argument("--replicas", type=int, default=1, help="copies of each block")
    _meta_map_size(s)
    s.add_argument(
        "--block-map-size", type=_size, default=1 << 40,
        help="size of each LMDB block store's map (sparse: only what is written takes "
        "disk; lower it where address space is limited, e.g. under valgrind) (default 1TiB)",
    )  # fmt: skip
    _gateway_options(s)
    _housekeeping_options(s)
    s.set_defaults(func=_run("cairn.serve", "serve"))


def _gateway_command(sub: Subparsers) -> None:
    g = sub.add_parser(
        "gateway",
        help="the S3 front end, with blocks on storage nodes (no housekeeping: see cairn meta)",
    )
    g.add_argument("--meta", required=True, help="lmdb:DIR or etcd://host:port[,host:port]")
    g.add_argument(
        "--state", default="./gateway-state", help="directory of credentials and TLS files"
    )
    g.add_argument("--cluster-secret", help="or CAIRN_CLUSTER_SECRET")
    g.add_argument("--replicas", type=int, default=3, help="copies of each block")
    g.add_argument("--write-quorum", type=int, default=2, help="copies a write waits for")
    _meta_map_size(g)
    _gateway_options(g)
    g.set_defaults(func=_run("cairn.serve", "gateway"))


def _node_command(sub: Subparsers) -> None:
    n = sub.add_parser("node", help="one storage node serving an LMDB block store")
    n.add_argument("--data", required=True, help="directory of the node's LMDB block store")
    n.add_argument("--host", default="127.0.0.1", help="address to listen on")
    n.add_argument("--port", type=int, default=9100, help="block-store port")
    n.add_argument(
        "--advertise", help="URL gateways use to reach this node (default: http(s)://HOST:PORT)"
    )
    n.add_argument("--capacity", type=int, help="bytes this node may hold")
    n.add_argument("--zone", default="", help="failure domain; replicas spread over zones")
    n.add_argument(
        "--cluster-secret", help="the secret shared by the cluster (or CAIRN_CLUSTER_SECRET)"
    )
    n.add_argument("--meta", help="register in this metadata store (lmdb:DIR or etcd://...)")
    n.add_argument(
        "--scrub-interval", type=float, default=86400.0,
        help="seconds between passes that re-hash every stored block (0: never)",
    )  # fmt: skip
    n.add_argument(
        "--scrub-rate",
        type=float,
        default=20.0,
        help="MB/s a scrub pass reads (default %(default)s)",
    )
    n.add_argument("--log-level", default="warning", help=_LOG_LEVELS)
    _node_link_options(n)
    n.set_defaults(func=_run("cairn.node", "run_node"))


def _node_link_options(n: argparse.ArgumentParser) -> None:
    """Internal links (docs/operations.md, "Securing a cluster")."""
    n.add_argument("--node-key-file", help="this node's own signing key (hex), 0600")
    n.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    n.add_argument("--tls-key", help="the certificate's private key (PEM)")
    n.add_argument("--tls-ca", help="accept only clients with a certificate from this CA")


def _meta_command(sub: Subparsers) -> None:
    m = sub.add_parser(
        "meta", help="housekeeping service: layout changes, GC and repair, one elected leader"
    )
    m.add_argument("--meta", required=True, help="lmdb:DIR or etcd://host:port[,host:port]")
    m.add_argument("--host", default="127.0.0.1", help="address to listen on")
    m.add_argument("--port", type=int, default=9300, help="GET /status answers here")
    m.add_argument("--cluster-secret", help="or CAIRN_CLUSTER_SECRET")
    m.add_argument("--replicas", type=int, default=3, help="copies of each block")
    m.add_argument("--write-quorum", type=int, default=2, help="copies a write waits for")
    m.add_argument(
        "--lease-ttl",
        type=float,
        default=5.0,
        help="seconds; leader hand-over time (default %(default)s)",
    )
    _node_grace(m)
    m.add_argument(
        "--gc-grace", type=float, default=3600.0,
        help="seconds before a block released by housekeeping (expired uploads, recovered "
        "journals) may be deleted (default %(default)s; the gateways' value)",
    )  # fmt: skip
    _housekeeping_options(m)
    _meta_map_size(m)
    m.add_argument("--log-level", default="warning", help=_LOG_LEVELS)
    m.set_defaults(func=_run("cairn.meta_service", "run_meta"))


def _admin_command(sub: Subparsers) -> None:
    a = sub.add_parser("admin", help="inspect and change the cluster: nodes, users, keys, CA")
    where = a.add_mutually_exclusive_group()
    where.add_argument(
        "--meta", help="lmdb:DIR or etcd://host:port[,host:port] (every command but `ca`)"
    )
    where.add_argument(
        "--data", help="the data directory of a cairn serve (its metadata and master key)"
    )
    where.add_argument(
        "--cluster", metavar="DIR",
        help="the directory of a `cairn cluster up`: its metadata, cluster secret, link TLS "
        "and master key",
    )  # fmt: skip
    a.add_argument("--cluster-secret", help="or CAIRN_CLUSTER_SECRET")
    _master_key_option(a)
    a.add_argument("--json", dest="json_all", action="store_true", help="print JSON")
    asub = a.add_subparsers(dest="admin_command", required=True)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON")
    asub.add_parser("nodes", help="list storage nodes with health", parents=[json_flag])
    rm = asub.add_parser("remove-node", help="take a node out of the layout", parents=[json_flag])
    rm.add_argument("node_id", help="as `cairn admin nodes` lists it")
    asub.add_parser("layout", help="show the layout", parents=[json_flag])
    _admin_users(asub, json_flag)
    _admin_keys(asub, json_flag)
    _admin_inspection(asub, json_flag)
    _admin_sse(asub, json_flag)
    a.set_defaults(func=_with_meta(_run("cairn.admin", "admin")))
    _ca_commands(asub, json_flag)


def _admin_sse(asub: Subparsers, json_flag: argparse.ArgumentParser) -> None:
    """`cairn admin kms create|list` and `cairn admin rewrap` (docs/encryption.md)."""
    kms = asub.add_parser("kms", help="named SSE-KMS keys in the master key file")
    ksub = kms.add_subparsers(dest="kms_command", required=True)
    create = ksub.add_parser("create", help="add a named key", parents=[json_flag])
    create.add_argument("name", help="the key id clients name in x-amz-…-aws-kms-key-id")
    ksub.add_parser("list", help="the keys' names (never the keys)", parents=[json_flag])
    asub.add_parser(
        "rewrap", help="seal SSE-S3 data keys under the current master key (after a rotation)",
        parents=[json_flag],
    )  # fmt: skip


def _admin_users(asub: Subparsers, json_flag: argparse.ArgumentParser) -> None:
    user = asub.add_parser("user", help="users (S3 accounts): they own buckets and keys")
    usub = user.add_subparsers(dest="user_command", required=True)
    uc = usub.add_parser(
        "create", help="make a user and its first key (printed once)", parents=[json_flag]
    )
    uc.add_argument("name", help="display name, unique")
    uc.add_argument("--email", help="for ACL grants by email address")
    usub.add_parser("list", help="every user, the bootstrap user too", parents=[json_flag])
    ud = usub.add_parser(
        "delete", help="delete a user that owns no bucket, and its keys", parents=[json_flag]
    )
    ud.add_argument("name", help="display name or user id")


def _rights_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--read", action="store_true", help="read objects and listings")
    p.add_argument("--write", action="store_true", help="write and delete objects")
    p.add_argument("--owner", action="store_true", help="change the bucket's configuration")


def _admin_keys(asub: Subparsers, json_flag: argparse.ArgumentParser) -> None:
    key = asub.add_parser("key", help="access keys, shared by every gateway")
    ksub = key.add_subparsers(dest="key_command", required=True)
    kc = ksub.add_parser("create", help="make a key pair and print it once", parents=[json_flag])
    kc.add_argument("--user", help="the key's user (name or id; default: the bootstrap user)")
    kc.add_argument(
        "--bucket", action="append",
        help="narrow the key to this bucket (repeat; none: every bucket, every right)",
    )  # fmt: skip
    _rights_flags(kc)
    for verb, what in (("allow", "give a key rights on a bucket"), ("deny", "take them away")):
        p = ksub.add_parser(verb, help=f"{what} (no --read/--write/--owner: all three)",
                            parents=[json_flag])  # fmt: skip
        p.add_argument("access_key", help="the key id")
        p.add_argument(
            "--bucket", action="append", required=True, help="a bucket, or '*' for every bucket"
        )
        _rights_flags(p)
    kr = ksub.add_parser("rotate", help="a new secret (printed once)", parents=[json_flag])
    kr.add_argument("access_key", help="the key id")
    kl = ksub.add_parser("list", help="keys and their rights (never secrets)", parents=[json_flag])
    kl.add_argument("--user", help="only this user's keys")
    kd = ksub.add_parser("delete", help="delete a key: it stops working at once",
                         parents=[json_flag])  # fmt: skip
    kd.add_argument("access_key", help="the key id (never the secret)")


def _admin_inspection(asub: Subparsers, json_flag: argparse.ArgumentParser) -> None:
    """What the store holds and how whole it is (cairn/status.py, fsck.py, buckets.py)."""
    replicas = argparse.ArgumentParser(add_help=False)
    replicas.add_argument(
        "--replicas", type=int,
        help="copies each block should have (default: the layout's R; with --data: the "
        "server's --replicas, which it does not record, so give it, else 1)",
    )  # fmt: skip
    st = asub.add_parser(
        "status", help="the cluster's health on one screen", parents=[json_flag, replicas]
    )
    st.add_argument(
        "--no-blocks", action="store_true",
        help="skip the fsck pass over every referenced block (a quick look at a large store)",
    )  # fmt: skip
    asub.add_parser(
        "fsck", parents=[json_flag, replicas],
        help="is every referenced block on R nodes? exit 7: some missing, 8: under-replicated",
    )  # fmt: skip
    for job, what in (
        ("gc", "journal recovery, then delete the blocks whose GC grace is over"),
        ("repair", "copy missing replicas, drop misplaced copies"),
        ("scrub", "re-hash every block on every node; a corrupt copy is deleted"),
    ):
        jp = asub.add_parser(job, help=f"{job} now: {what}")
        jsub = jp.add_subparsers(dest="job_command", required=True)
        run = jsub.add_parser(
            "run", parents=[json_flag, replicas],
            help="one pass in this process, with a progress bar (docs/operations.md)",
        )  # fmt: skip
        run.add_argument(
            "--wait", action="store_true",
            help="wait for the pass to end (it always does: the pass runs in this process)",
        )  # fmt: skip
    bucket = asub.add_parser("bucket", help="buckets: owner, versioning, objects and bytes")
    bsub = bucket.add_subparsers(dest="bucket_command", required=True)
    bsub.add_parser("list", help="every bucket", parents=[json_flag])
    info = bsub.add_parser("info", help="one bucket in detail", parents=[json_flag])
    info.add_argument("bucket", help="the bucket's name")


def _with_meta(func):  # type: ignore[no-untyped-def]
    """`--meta`/`--data` are optional on `cairn admin` only because `ca` needs neither."""

    def call(args: argparse.Namespace) -> int:
        if not (args.meta or args.data or args.cluster):
            raise CairnExit(Exit.USAGE, f"{args.admin_command}: give --meta, --data or --cluster")
        return int(func(args))

    return call


def _ca_commands(asub: Subparsers, json_flag: argparse.ArgumentParser) -> None:
    """`cairn admin ca init|issue|node-key`: the cluster CA (cairn/pki.py); no metadata."""
    ca = asub.add_parser("ca", help="the cluster CA for TLS on the internal links")
    csub = ca.add_subparsers(dest="ca_command", required=True)
    init = csub.add_parser(
        "init", help="create the CA (DIR/ca.pem, DIR/ca.key)", parents=[json_flag]
    )
    init.add_argument("--dir", required=True, help="directory for the CA files")
    issue = csub.add_parser(
        "issue", help="issue a certificate and key signed by the CA", parents=[json_flag]
    )
    issue.add_argument("--dir", required=True, help="the CA's directory")
    issue.add_argument("--name", required=True, help="files DIR/NAME.pem, DIR/NAME.key")
    issue.add_argument("--san", action="append", default=[], help="IP or DNS name (repeat)")
    issue.add_argument("--client", action="store_true", help="a client certificate")
    issue.add_argument("--out", help="write into this directory, with ca.pem (default: --dir)")
    key = csub.add_parser(
        "node-key", help="derive a node's signing key into a 0600 file", parents=[json_flag]
    )
    key.add_argument("--url", required=True, help="the URL the node is registered at")
    key.add_argument(
        "--out", required=True, help="file to write (0600)"
    )  # the secret: `admin --cluster-secret` or env
    ca.set_defaults(func=_run("cairn.pki", "ca_command"))


def _cluster_security_options(up: argparse.ArgumentParser) -> None:
    """Internal links and etcd (docs/operations.md, "Securing a cluster")."""
    up.add_argument(
        "--no-internal-tls", dest="internal_tls", action="store_false",
        help="plain HTTP between gateways and nodes, and to etcd (default: TLS from a "
        "cluster CA in DATA/pki, client certificates required)",
    )  # fmt: skip
    up.add_argument("--etcd-binary", help="the etcd to run (default: etcd >= 3.5.4 on PATH)")


def _master_key_command(sub: Subparsers) -> None:
    m = sub.add_parser("master-key", help="the key that seals access-key secrets")
    msub = m.add_subparsers(dest="master_key_command", required=True)
    create = msub.add_parser("create", help="write a new master key file (mode 0600)")
    create.add_argument("file", help="the key file to write (never overwritten)")
    rotate = msub.add_parser("rotate", help="add a new sealing key in front; older keys still open")
    rotate.add_argument("file", help="the key file to rotate in place")
    for verb in (create, rotate):  # the audit trail (cairn/audit.py), when it is named
        where = verb.add_mutually_exclusive_group()
        where.add_argument("--meta", help="record it in this metadata's audit trail")
        where.add_argument("--data", help="record it in this cairn serve's audit trail")
    m.set_defaults(func=_run("cairn.admin", "master_key"))


def _at_least_one(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("a cluster needs at least 1 (its housekeeper)")
    return n


def _cluster_command(sub: Subparsers) -> None:
    c = sub.add_parser("cluster", help="a local cluster of processes on 127.0.0.1")
    csub = c.add_subparsers(dest="cluster_command", required=True)
    up = csub.add_parser("up", help="start nodes, meta services and gateways")
    up.add_argument("--data", required=True, help="the cluster's directory (made, or restarted)")
    up.add_argument("--nodes", type=int, default=4, help="storage nodes")
    up.add_argument("--gateways", type=int, default=1, help="S3 gateways")
    up.add_argument(
        "--allow-ssec-over-http", action="store_true",
        help="gateways accept SSE-C keys over plain HTTP (tests only)",
    )  # fmt: skip
    up.add_argument("--replicas", type=int, default=3, help="copies of each block")
    up.add_argument("--write-quorum", type=int, default=2, help="copies a write waits for")
    up.add_argument("--zones", type=int, default=0, help="spread nodes over this many zones")
    up.add_argument(
        "--gc-grace", type=float, default=3600.0,
        help="seconds an unreferenced block is kept before GC may delete it (default "
        "%(default)s; given to the gateways and the meta services)",
    )  # fmt: skip
    up.add_argument("--etcd", type=int, default=0, help="etcd members for the metadata (0: LMDB)")
    up.add_argument(
        "--meta-services", type=_at_least_one, default=1,
        help="cairn meta processes; one elected leader runs the housekeeper (default "
        "%(default)s, at least 1)",
    )  # fmt: skip
    _node_grace(up)
    _housekeeping_options(up)
    up.add_argument(
        "--scrub-interval", type=float, default=86400.0,
        help="seconds between a node's re-hashes of its blocks (default %(default)s)",
    )  # fmt: skip
    _cluster_security_options(up)
    up.add_argument(
        "--metrics-port", type=int, default=0,
        help="gateway i serves Prometheus metrics on this port + i (default 0: off); nodes "
        "and meta services always answer /metrics on their own ports",
    )  # fmt: skip
    up.add_argument(
        "--console-port", type=int, default=0,
        help="serve the web console on the first gateway at this port (0: off; "
        "default %(default)s)",
    )  # fmt: skip
    up.add_argument(
        "--log-level", default="warning",
        help="the log level of every node, meta service and gateway; " + _LOG_LEVELS,
    )  # fmt: skip
    # Test hook, hidden from --help (docs/fault-campaign.md): NS/NODE_IP/ETCD_IP per node,
    # comma-separated; node i runs in network namespace NS (made by tests/chaos/netns.py).
    up.add_argument("--node-netns", help=argparse.SUPPRESS)
    down = csub.add_parser("down", help="stop what `cluster up` started")
    down.add_argument("--data", required=True, help="the cluster's directory")
    c.set_defaults(func=_run("cairn.launcher", "cluster"))


COMMANDS = (
    _serve_command,
    _gateway_command,
    _node_command,
    _meta_command,
    _admin_command,
    _master_key_command,
    _cluster_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cairn", description="Cairn S3-compatible object store")
    parser.add_argument("--version", action="version", version=f"cairn {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cairn")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    # Every file Cairn creates (LMDB data holding key secrets and blocks, credentials,
    # TLS keys, logs) is its user's alone, as created: 0600 files, 0700 directories.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    if getattr(args, "workers", 0) is None:
        args.workers = max(1, min(os.cpu_count() or 1, 8))
    logging.basicConfig(
        level=getattr(args, "log_level", "warning").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        return int(args.func(args))
    except CairnExit as exc:
        print(f"cairn {args.command}: {exc}", file=sys.stderr)
        return int(exc.code)


if __name__ == "__main__":
    sys.exit(main())
