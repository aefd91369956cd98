"""What `cairn cluster up` hands each role, and nothing more (docs/operations.md,
"Securing a cluster"): the cluster secret, kept in DATA/cluster-secret (0600); the link TLS
files from the cluster CA in DATA/pki (cairn/pki.py); each node's own signing key and
certificate; each role's environment without the secrets it does not need; and etcd's
users and roles, so that a node may write its own registration and nothing else."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from blockstore import auth
from blockstore.client import LinkTls
from cairn import pki


def cluster_secret(data: Path) -> str:
    """The environment's, or DATA/cluster-secret (made 0600 on the first `up`)."""
    env = os.environ.get("CAIRN_CLUSTER_SECRET")
    if env:
        return env
    path = data / "cluster-secret"
    if not path.exists():
        pki.write_private(path, secrets.token_hex(24).encode())
    return path.read_text().strip()


def link_tls(data: Path) -> LinkTls:
    """The cluster CA and the one client certificate of the gateways and meta services."""
    pki.init_ca(data / "pki")
    client = pki.issue(data / "pki", "client", [], client=True)
    return LinkTls(str(client.ca), str(client.cert), str(client.key))


_S3_KEYS = ("CAIRN_ACCESS_KEY", "CAIRN_SECRET_KEY")
_LINK_SECRETS = ("CAIRN_CLUSTER_SECRET", "CAIRN_LINK_CERT", "CAIRN_LINK_KEY")


def role_env(env: dict[str, str], role: str) -> dict[str, str]:
    """Only the secrets a role needs: the S3 root pair for gateways alone; the cluster
    secret and the client certificate for gateways and meta services; nodes neither (their
    own key and certificate are files named on their command line), nor the master key."""
    drop = set()
    if role != "gateway":
        drop |= set(_S3_KEYS)
    if role == "node":
        drop |= set(_LINK_SECRETS) | {"CAIRN_LINK_CA", "CAIRN_MASTER_KEY_FILE"}
    return {k: v for k, v in env.items() if k not in drop}


def node_secrets(
    data: Path, tls: LinkTls | None, secret: str, i: int, port: int, host: str = "127.0.0.1"
) -> list[str]:
    """Node i's own key file and, with TLS, its certificate: the only secrets it gets. The
    key is derived from the address the node registers at (`host`:`port`)."""
    node_dir = data / f"node-{i}"
    node_dir.mkdir(mode=0o700, exist_ok=True)
    scheme = "https" if tls else "http"
    address = auth.address_of(f"{scheme}://{host}:{port}")
    key_file = node_dir / "node-key"
    pki.write_private(key_file, auth.node_key(secret, address).hex().encode())
    extra = ["--node-key-file", str(key_file)]
    if tls:
        sans = ["127.0.0.1", "localhost", *([host] if host != "127.0.0.1" else [])]
        cert = pki.issue(data / "pki", f"node-{i}", sans)
        extra += [
            "--tls-cert",
            str(cert.cert),
            "--tls-key",
            str(cert.key),
            "--tls-ca",
            str(cert.ca),
        ]
    return extra


def node_meta(meta: str, data: Path, tls: LinkTls | None, i: int) -> str:
    """Node i's --meta spec: on etcd with TLS, with its own certificate instead of the
    gateways' client certificate."""
    if not (meta.startswith("etcd://") and tls):
        return meta
    pki_dir = data / "pki"
    return f"{meta.partition('?')[0]}?ca={tls.ca_file}&cert={pki_dir}/node-{i}.pem" + (
        f"&key={pki_dir}/node-{i}.key"
    )


def node_ids(data: Path, nodes: int) -> dict[str, str]:
    """Each node's id, made here before it starts (cairn/node.py keeps an existing one), so
    that etcd can be told which registry keys each node's certificate may write."""
    ids = {}
    for i in range(nodes):
        path = data / f"node-{i}" / "node-id"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("node-" + secrets.token_hex(6))
        ids[f"node-{i}"] = path.read_text().strip()
    return ids


def etcd_auth(binary: Path, endpoints: str, tls: LinkTls, node_ids: dict[str, str]) -> None:
    """etcd users and roles (meta.etcd_launch.rbac_commands), then authentication on. On
    a cluster's second `up` they exist already (its certificate keeps the root role)."""
    from meta.etcd_launch import etcdctl_for, rbac_commands

    base = [str(etcdctl_for(binary)), "--endpoints", endpoints, "--cacert", tls.ca_file]
    base += ["--cert", str(tls.cert_file), "--key", str(tls.key_file)]
    for cmd in rbac_commands(node_ids):
        done = subprocess.run(base + cmd, capture_output=True, text=True, timeout=30)
        if done.returncode != 0 and "already" not in done.stderr:
            raise SystemExit(f"etcdctl {' '.join(cmd[:3])} failed: {done.stderr.strip()}")


def tls_record(tls: LinkTls | None) -> dict[str, str] | None:
    """Where the link TLS files are (paths, not secrets), for tests and tools."""
    if tls is None:
        return None
    return {"ca": tls.ca_file, "cert": str(tls.cert_file), "key": str(tls.key_file)}
