"""The `cairn` command: `cairn serve` runs gateway, metadata and block stores in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import string
import sys
from pathlib import Path

import uvicorn

from blockstore.lmdb_store import LmdbBlockStore
from gateway.app import create_app
from gateway.context import Services
from gateway.objects.blocks import ReplicatedBlocks
from gateway.objects.service import DEFAULT_BLOCK_SIZE, DEFAULT_INLINE_MAX, ObjectService
from meta.lmdb_kv import LmdbKV
from meta.store import MetaStore
from meta.uploads import Uploads

log = logging.getLogger("cairn")


def load_credentials(data: Path) -> tuple[str, str]:
    """CAIRN_ACCESS_KEY / CAIRN_SECRET_KEY, else a pair generated once and kept in DATA."""
    env_key, env_secret = os.environ.get("CAIRN_ACCESS_KEY"), os.environ.get("CAIRN_SECRET_KEY")
    if env_key and env_secret:
        return env_key, env_secret
    path = data / "credentials.json"
    if path.exists():
        creds = json.loads(path.read_text())
        return creds["access_key"], creds["secret_key"]
    alphabet = string.ascii_uppercase + string.digits
    access = "CAIRN" + "".join(secrets.choice(alphabet) for _ in range(15))
    secret = secrets.token_urlsafe(30)[:40]
    path.write_text(json.dumps({"access_key": access, "secret_key": secret}))
    path.chmod(0o600)
    return access, secret


def ensure_certificate(data: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for --tls, made on first start and kept in DATA/tls."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls = data / "tls"
    cert_path, key_path = tls / "cert.pem", tls / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    tls.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cairn")])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for h in {host, "127.0.0.1"}:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def serve(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    access, secret = load_credentials(data)
    kv = LmdbKV(data / "meta")
    meta = MetaStore(kv, gc_grace_ms=int(args.gc_grace * 1000))
    stores = {
        f"node-{i}": LmdbBlockStore(data / "blocks" / f"node-{i}", verify_puts=False)
        for i in range(args.nodes)
    }
    blocks = ReplicatedBlocks(stores, replicas=args.replicas)
    objects = ObjectService(meta, blocks, block_size=args.block_size, inline_max=args.inline_max)
    services = Services(meta=meta, objects=objects, uploads=Uploads(meta), region=args.region)
    app = create_app(
        services,
        {access: secret},
        background=[lambda: objects.gc_loop(args.gc_interval)],
    )
    ssl: dict[str, str] = {}
    scheme = "http"
    if args.tls:
        cert, key = ensure_certificate(data, args.host)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        scheme = "https"
    endpoint = f"{scheme}://{args.host}:{args.port}"
    print(f"Cairn S3 endpoint: {endpoint}", flush=True)
    print(f"  access key: {access}", flush=True)
    print(f"  secret key: {secret}", flush=True)
    print(f"  data:       {data} ({args.nodes} block store(s))", flush=True)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
        http="httptools",
        loop="uvloop",
        timeout_keep_alive=30,
        **ssl,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(server, kv, blocks))
    print("Cairn stopped.", flush=True)
    return 0


async def _run(server: uvicorn.Server, kv: LmdbKV, blocks: ReplicatedBlocks) -> None:
    try:
        await server.serve()
    finally:
        await blocks.close()
        await kv.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn", description="Cairn S3-compatible object store")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="gateway + metadata + block stores in one process")
    s.add_argument("--data", default="./data", help="data directory (default ./data)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=9000)
    s.add_argument("--nodes", type=int, default=1, help="local LMDB block stores")
    s.add_argument("--replicas", type=int, default=1, help="copies of each block")
    s.add_argument("--tls", action="store_true", help="HTTPS with a self-signed certificate")
    s.add_argument("--region", default="us-east-1")
    s.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    s.add_argument("--inline-max", type=int, default=DEFAULT_INLINE_MAX)
    s.add_argument(
        "--gc-grace",
        type=float,
        default=3600.0,
        help="seconds before an unreferenced block is deleted",
    )
    s.add_argument("--gc-interval", type=float, default=30.0)
    s.add_argument("--log-level", default="warning")
    s.set_defaults(func=serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
