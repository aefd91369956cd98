"""Internal links that prove who is talking (issue 14, findings 3-5), with real processes:
`cairn node`s serving HTTPS, a real etcd with client-certificate authentication, and a
whole `cairn cluster up` with its defaults.

- A gateway (HttpBlockStore with the cluster's TLS settings) refuses a node whose certificate
  is not from the cluster CA, and a node on plain HTTP: a fake node can no longer hand it
  other bytes with their CRC.
- A running gateway sends no block to a rogue node that registered itself with the stolen
  cluster secret but a certificate of its own.
- A node refuses a client without a cluster certificate.
- etcd refuses a client without the client certificate.
- `cluster up` gives each role only its secrets, its log files are 0600, and the S3 secret
  is shown once, when generated.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from blockstore import auth
from blockstore.address import block_id
from blockstore.api import BlockStoreUnavailable
from blockstore.client import HttpBlockStore, LinkTls
from cairn import pki
from cairn.launcher import free_port
from meta.api import MetaError, MetaUnavailable, Txn
from meta.etcd_kv import EtcdClientTls, EtcdKV
from meta.etcd_launch import EtcdTls, etcd_command

SECRET = "links-test-secret"
BLOCK = b"the bytes a fake node would replace"


def _wait(url: str, proc: subprocess.Popen[bytes], verify: object = True) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: exited {proc.returncode}"
        try:
            httpx.get(url, timeout=1.0, verify=verify)  # type: ignore[arg-type]
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def _node(
    tmp: Path, name: str, procs: list[subprocess.Popen[bytes]], tls: pki.Issued | None
) -> str:
    """A real `cairn node` (HTTPS with ``tls``, which also demands client certificates)."""
    port = free_port()
    args = ["--data", str(tmp / name), "--port", str(port), "--cluster-secret", SECRET]
    if tls is not None:
        args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--tls-ca", str(tls.ca)]
    log = open(tmp / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    procs.append(
        subprocess.Popen([sys.executable, "-m", "cairn.cli", "node", *args], stdout=log, stderr=log)
    )
    log.close()
    _wait_port(port, procs[-1])  # /health needs no signature, but TLS needs a certificate
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"port {port}: exited {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(port)


async def _roundtrip(url: str, tls: LinkTls | None) -> bytes:
    store = HttpBlockStore(url, SECRET, tls=tls, connect_timeout=5)
    try:
        bid = block_id(BLOCK)
        await store.put(bid, BLOCK)
        return await store.get(bid)
    finally:
        await store.close()


def test_a_gateway_refuses_a_node_without_the_cluster_certificate(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    cluster, rogue = tmp_path / "pki", tmp_path / "rogue-pki"
    pki.init_ca(cluster)
    pki.init_ca(rogue)  # a self-signed CA of the attacker's
    client = pki.issue(cluster, "gateway", [], client=True)
    links = LinkTls(str(client.ca), str(client.cert), str(client.key))
    good = _node(tmp_path, "good", procs, pki.issue(cluster, "good", ["127.0.0.1"]))
    fake = _node(tmp_path, "fake", procs, pki.issue(rogue, "fake", ["127.0.0.1"]))
    plain = _node(tmp_path, "plain", procs, None)

    assert asyncio.run(_roundtrip(good, links)) == BLOCK
    for url in (fake, plain):  # a rogue certificate; a downgrade to plain HTTP
        with pytest.raises(BlockStoreUnavailable):
            asyncio.run(_roundtrip(url, links))
    # Without TLS settings (today's gateway) the plain node is trusted: what TLS changes.
    assert asyncio.run(_roundtrip(plain, None)) == BLOCK


def test_a_node_refuses_a_client_without_a_cluster_certificate(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    cluster, rogue = tmp_path / "pki", tmp_path / "rogue-pki"
    pki.init_ca(cluster)
    pki.init_ca(rogue)
    node = _node(tmp_path, "node", procs, pki.issue(cluster, "node", ["127.0.0.1"]))
    ca = str(cluster / "ca.pem")
    stranger = pki.issue(rogue, "stranger", [], client=True)
    for tls in (LinkTls(ca), LinkTls(ca, str(stranger.cert), str(stranger.key))):
        with pytest.raises(BlockStoreUnavailable):
            asyncio.run(_roundtrip(node, tls))


@pytest.fixture
def tls_etcd(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """One real etcd member that demands a client certificate from the cluster CA."""
    d = tmp_path / "pki"
    pki.init_ca(d)
    member = pki.issue(d, "etcd-0", ["127.0.0.1"])
    client, peer = free_port(), free_port()
    cmd = etcd_command(
        "etcd-0", tmp_path / "etcd", client, peer, f"etcd-0=https://127.0.0.1:{peer}",
        "links-test", tls=EtcdTls(member.cert, member.key, member.ca),
    )  # fmt: skip
    log = open(tmp_path / "etcd.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    log.close()
    try:
        cert = pki.issue(d, "client", [], client=True)
        context = LinkTls(str(cert.ca), str(cert.cert), str(cert.key)).context()
        _wait(f"https://127.0.0.1:{client}/health", proc, verify=context)
        yield f"127.0.0.1:{client}", d
    finally:
        proc.kill()
        proc.wait()


async def _put_get(kv: EtcdKV) -> bytes | None:
    try:
        await kv.commit(Txn().put(b"k", b"v"))
        return await kv.get(b"k")
    finally:
        await kv.close()


def test_etcd_refuses_a_client_without_the_client_certificate(
    tls_etcd: tuple[str, Path],
) -> None:
    address, d = tls_etcd
    ca, cert, key = d / "ca.pem", d / "client.pem", d / "client.key"
    spec = f"etcd://{address}?ca={ca}&cert={cert}&key={key}&timeout=3"
    assert asyncio.run(_put_get(EtcdKV.from_spec(spec))) == b"v"
    for refused in (
        EtcdKV([address], timeout=3),  # plaintext, as Cairn spoke to etcd before
        EtcdKV([address], timeout=3, tls=EtcdClientTls(str(ca))),  # TLS, no certificate
    ):
        with pytest.raises(MetaUnavailable):
            asyncio.run(_put_get(refused))


def _env_names(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (e.decode(errors="replace").partition("=") for e in raw if e)
    return {k: v for k, _, v in pairs if k.startswith("CAIRN_")}


def _node_may_write_only_its_own_registration(data: Path, info: dict) -> None:
    """Finding 4: anything that reached etcd could read every secret or register a rogue
    node. Now etcd takes only cluster certificates, and a node's may write its own registry
    keys and nothing else."""
    pki_dir, base = data / "pki", info["meta"].partition("?")[0]
    ids = [(data / f"node-{i}" / "node-id").read_text().strip().encode() for i in range(2)]
    own = json.dumps({"node_id": ids[0].decode(), "url": info["processes"][1]["url"]})
    cert = f"ca={pki_dir}/ca.pem&cert={pki_dir}/node-0.pem&key={pki_dir}/node-0.key"

    async def probe() -> None:
        kv = EtcdKV.from_spec(f"{base}?{cert}&timeout=3")
        try:
            await kv.commit(Txn().put(b"N" + ids[0], own.encode()))  # itself: allowed
            for denied in (
                kv.commit(Txn().put(b"N" + ids[1], b"{}")),  # another node's record
                kv.commit(Txn().put(b"Nrogue", b"{}")),  # a node of its own making
                kv.scan(b"K", b"L"),  # the access keys
                kv.get(b"L"),  # the layout
            ):
                with pytest.raises(MetaError, match="PERMISSION_DENIED"):
                    await denied
        finally:
            await kv.close()

    asyncio.run(probe())
    for i, p in enumerate(q for q in info["processes"] if q["role"] == "node"):
        assert f"cert={pki_dir}/node-{i}.pem" in " ".join(p["args"])


def test_cluster_up_gives_each_role_only_its_secrets(tmp_path: Path) -> None:
    """Findings 3 and 5: nodes and meta services had the S3 root secret (and every node the
    cluster secret) in their environment; the log files were 0644; the banner printed the
    secret on every start."""
    data = tmp_path / "c"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    up = [sys.executable, "-m", "cairn.cli", "cluster", "up", "--data", str(data)]
    up += ["--nodes", "2", "--replicas", "2", "--write-quorum", "1", "--etcd", "1"]
    down = [sys.executable, "-m", "cairn.cli", "cluster", "down", "--data", str(data)]
    first = subprocess.run(up, env=env, capture_output=True, text=True, timeout=120)
    try:
        assert first.returncode == 0, first.stderr
        creds = json.loads((data / "credentials.json").read_text())
        cluster_secret = (data / "cluster-secret").read_text().strip()
        assert first.stdout.count(creds["secret_key"]) == 1  # generated now: shown once
        info = json.loads((data / "cluster.json").read_text())
        for p in info["processes"]:
            names = _env_names(p["pid"])
            if p["role"] == "gateway":
                assert names.get("CAIRN_SECRET_KEY") == creds["secret_key"]
            else:
                assert "CAIRN_SECRET_KEY" not in names and "CAIRN_ACCESS_KEY" not in names
            if p["role"] in ("node", "etcd"):
                assert not names, (p["role"], sorted(names))
            if p["role"] == "node":
                assert p["url"].startswith("https://")
        for log in (data / "logs").iterdir():
            assert stat.S_IMODE(log.stat().st_mode) == 0o600, log
            text = log.read_text(errors="replace")
            assert cluster_secret not in text, log
            assert creds["secret_key"] not in text, log  # gateways too: from their env
        for name in ("cluster-secret", "credentials.json"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
        for i in range(2):
            key = data / f"node-{i}" / "node-key"
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
            address = auth.address_of(info["processes"][1 + i]["url"])
            assert bytes.fromhex(key.read_text()) == auth.node_key(cluster_secret, address)

        _node_may_write_only_its_own_registration(data, info)

        s3 = boto3.client(
            "s3", endpoint_url=info["endpoints"][0], region_name="us-east-1",
            aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"],
        )  # fmt: skip
        s3.create_bucket(Bucket="links")
        body = os.urandom(9 << 20)
        s3.put_object(Bucket="links", Key="big", Body=body)
        assert s3.get_object(Bucket="links", Key="big")["Body"].read() == body
    finally:
        subprocess.run(down, env=env, capture_output=True, timeout=60)
    again = subprocess.run(up, env=env, capture_output=True, text=True, timeout=120)
    try:
        assert again.returncode == 0, again.stderr
        assert creds["secret_key"] not in again.stdout  # not generated now: not shown
    finally:
        subprocess.run(down, env=env, capture_output=True, timeout=60)


def test_a_running_gateway_never_sends_blocks_to_a_rogue_node(tmp_path: Path) -> None:
    """Finding 3/4 end to end: a node that holds the cluster secret and registers itself in
    the metadata, but whose certificate the cluster CA did not sign, joins the layout and
    yet receives no block from the gateway, while every PUT and GET succeeds."""
    data = tmp_path / "c"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    up = [sys.executable, "-m", "cairn.cli", "cluster", "up", "--data", str(data)]
    up += ["--nodes", "3", "--replicas", "3", "--write-quorum", "2"]
    down = [sys.executable, "-m", "cairn.cli", "cluster", "down", "--data", str(data)]
    subprocess.run(up, env=env, capture_output=True, text=True, timeout=120, check=True)
    rogue_proc = None
    try:
        info = json.loads((data / "cluster.json").read_text())
        rogue_pki = tmp_path / "rogue-pki"
        pki.init_ca(rogue_pki)
        cert = pki.issue(rogue_pki, "rogue", ["127.0.0.1"])
        port = free_port()
        stolen = (data / "cluster-secret").read_text().strip()
        rogue_proc = subprocess.Popen(
            [
                sys.executable, "-m", "cairn.cli", "node", "--data", str(tmp_path / "rogue"),
                "--port", str(port), "--meta", info["meta"], "--cluster-secret", stolen,
                "--tls-cert", str(cert.cert), "--tls-key", str(cert.key),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(port, rogue_proc)
        _wait_for_layout_of(info["meta"], 4)

        creds = json.loads((data / "credentials.json").read_text())
        s3 = boto3.client(
            "s3", endpoint_url=info["endpoints"][0], region_name="us-east-1",
            aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"],
        )  # fmt: skip
        s3.create_bucket(Bucket="rogue")
        bodies = {f"k{i}": os.urandom(1 << 20) for i in range(12)}
        for key, body in bodies.items():
            s3.put_object(Bucket="rogue", Key=key, Body=body)
        for key, body in bodies.items():
            assert s3.get_object(Bucket="rogue", Key=key)["Body"].read() == body
    finally:
        if rogue_proc is not None:
            rogue_proc.terminate()
            rogue_proc.wait(30)
        subprocess.run(down, env=env, capture_output=True, timeout=60)
    assert asyncio.run(_stored_ids(tmp_path / "rogue" / "blocks")) == []


def _wait_for_layout_of(meta: str, nodes: int) -> None:
    from blockstore.cluster.placement import Layout
    from meta.nodes import NodeRegistry
    from meta.open import open_kv

    async def count() -> int:
        kv = open_kv(meta)
        try:
            current, _, _ = await NodeRegistry(kv).layout()
            return len(Layout.from_dict(current).node_ids()) if current else 0
        finally:
            await kv.close()

    deadline = time.monotonic() + 30
    while asyncio.run(count()) != nodes:
        assert time.monotonic() < deadline, "the rogue node never joined the layout"
        time.sleep(0.2)


async def _stored_ids(path: Path) -> list[bytes]:
    from blockstore.lmdb_store import LmdbBlockStore

    store = LmdbBlockStore(path)
    try:
        return await store.list_ids(b"", b"\xff" * 33)
    finally:
        await store.close()
