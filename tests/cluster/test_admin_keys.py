"""Users and access keys in the metadata (`cairn admin user|key ...`): every gateway of an
etcd cluster follows a created, narrowed, widened, rotated or deleted key, and a deleted
user, within a few seconds, without restarts; `--json` prints what scripts read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from tests.cluster.conftest import error_code, gateway_clients, s3_client
from tests.cluster_util import CairnCluster

# S3 bucket names have at least 3 characters: "b1" of the brief is spelled out.
B1, B2 = "kb1", "kb2"
FOLLOW_S = 5.0  # the gateways re-read the keys every 2 s; the rest is for a loaded machine


def admin(
    cluster: CairnCluster, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`cairn admin --meta <the cluster's etcd> --master-key-file DIR/master.key ...`."""
    where = ["--meta", cluster.info["meta"], "--master-key-file", str(cluster.data / "master.key")]
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", *where, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def admin_json(cluster: CairnCluster, *args: str) -> dict | list:
    return json.loads(admin(cluster, *args, "--json").stdout)


def _create(cluster: CairnCluster, *args: str) -> tuple[str, str, str]:
    out = admin(cluster, "key", "create", *args).stdout
    access = re.search(r"^access key: (\S+)$", out, re.M)
    secret = re.search(r"^secret key: (\S+)$", out, re.M)
    buckets = re.search(r"^buckets:\s+(.*)$", out, re.M)
    assert access and secret and buckets, out
    return access.group(1), secret.group(1), buckets.group(1).strip()


def _key_row(table: str, access: str) -> list[str]:
    """The cells of the key's row in `key list`'s table (ACCESS KEY, USER, BUCKETS, note)."""
    return next(line.split() for line in table.splitlines() if line.startswith(access))


def _clients(cluster: CairnCluster, access: str, secret: str) -> list:
    return [s3_client(e, access, secret) for e in cluster.endpoints]


def _wait_all(clients: list, accepted: bool, timeout: float = 15.0) -> list[float]:
    """Seconds until each client's gateway accepts (or refuses with InvalidAccessKeyId)
    the client's key; fails if one does not within timeout."""
    t0 = time.monotonic()
    times = []
    for i, s3 in enumerate(clients):
        last = None
        while True:
            try:
                s3.list_buckets()
                last = "ok"
            except ClientError as exc:
                last = error_code(exc)
            if (last == "ok") == accepted:
                times.append(round(time.monotonic() - t0, 2))
                break
            assert time.monotonic() - t0 < timeout, f"gateway {i}: still {last} after {timeout}s"
            time.sleep(0.1)
        if not accepted:
            assert last == "InvalidAccessKeyId", last
    return times


def test_created_key_works_on_both_gateways_then_deleted(shared_cluster: CairnCluster) -> None:
    c = shared_cluster
    access, secret, buckets = _create(c)
    assert buckets == "*"
    assert access != c.access_key
    listed = admin(c, "key", "list").stdout
    assert _key_row(listed, access)[1:3] == ["cairn", "*"], listed
    assert secret not in listed  # the secret is printed once, at creation

    a, b = _clients(c, access, secret)
    took = _wait_all([a, b], accepted=True)
    print(f"\n[keys] new key accepted by both gateways after {took}s")
    assert max(took) <= FOLLOW_S, took
    a.create_bucket(Bucket="keyed")
    a.put_object(Bucket="keyed", Key="k", Body=b"made with a created key")
    assert b.get_object(Bucket="keyed", Key="k")["Body"].read() == b"made with a created key"
    b.put_object(Bucket="keyed", Key="k2", Body=b"via b")
    assert a.get_object(Bucket="keyed", Key="k2")["Body"].read() == b"via b"

    out = admin(c, "key", "delete", access).stdout
    assert f"deleted {access}" in out
    assert access not in admin(c, "key", "list").stdout
    took = _wait_all([a, b], accepted=False)
    print(f"[keys] deleted key refused by both gateways after {took}s")
    assert max(took) <= FOLLOW_S, took
    for s3 in (a, b):
        with pytest.raises(ClientError) as ei:
            s3.get_object(Bucket="keyed", Key="k")
        assert error_code(ei.value) == "InvalidAccessKeyId"
    # The bootstrap key still works, and the data written with the deleted key stays.
    boot = gateway_clients(c)
    assert boot[1].get_object(Bucket="keyed", Key="k")["Body"].read() == b"made with a created key"

    gone = admin(c, "key", "delete", access, check=False)
    assert gone.returncode == 1 and "no such key" in gone.stderr


def test_bucket_limited_key(shared_cluster: CairnCluster) -> None:
    c = shared_cluster
    boot = gateway_clients(c)
    boot[0].create_bucket(Bucket=B1)
    boot[0].create_bucket(Bucket=B2)
    boot[0].put_object(Bucket=B2, Key="secret", Body=b"not for the limited key")

    access, secret, buckets = _create(c, "--bucket", B1)  # the old form: every right on B1
    assert buckets == f"{B1}:read+write+owner"
    row = _key_row(admin(c, "key", "list").stdout, access)
    assert row[1:3] == ["cairn", f"{B1}:read+write+owner"], row
    clients = _clients(c, access, secret)
    _wait_all(clients, accepted=True)
    for i, s3 in enumerate(clients):
        s3.put_object(Bucket=B1, Key=f"k{i}", Body=b"allowed")
        assert s3.get_object(Bucket=B1, Key=f"k{i}")["Body"].read() == b"allowed"
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=B1)["Contents"])[-1] == f"k{i}"
        for call in (
            lambda s3=s3: s3.get_object(Bucket=B2, Key="secret"),
            lambda s3=s3: s3.put_object(Bucket=B2, Key="x", Body=b"no"),
            lambda s3=s3: s3.list_objects_v2(Bucket=B2),
            lambda s3=s3: s3.create_bucket(Bucket="kb3"),
        ):
            with pytest.raises(ClientError) as ei:
                call()
            assert error_code(ei.value) == "AccessDenied", f"gateway {i}: {ei.value}"
    assert "x" not in {o["Key"] for o in boot[1].list_objects_v2(Bucket=B2)["Contents"]}
    admin(c, "key", "delete", access)
    _wait_all(clients, accepted=False)


def _wait_code(clients: list, call, want: str, timeout: float = 15.0) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds until ``call(s3)`` answers ``want`` ("ok" or an error code) on every
    gateway's client."""
    t0 = time.monotonic()
    times = []
    for i, s3 in enumerate(clients):
        while True:
            try:
                call(s3)
                got = "ok"
            except ClientError as exc:
                got = error_code(exc)
            if got == want:
                times.append(round(time.monotonic() - t0, 2))
                break
            assert time.monotonic() - t0 < timeout, f"gateway {i}: still {got} after {timeout}s"
            time.sleep(0.1)
    return times


def test_users_and_narrowed_keys_on_etcd(shared_cluster: CairnCluster) -> None:
    """user create --json, a read-only key, allow/deny/rotate, user delete: all gateways."""
    c = shared_cluster
    boot = gateway_clients(c)
    boot[0].create_bucket(Bucket="idb1")
    boot[0].put_object(Bucket="idb1", Key="doc", Body=b"shared")

    made = admin_json(c, "user", "create", "etcd-alt", "--email", "etcd-alt@example.com")
    assert made["display_name"] == "etcd-alt" and len(made["user_id"]) == 64
    users = {u["display_name"]: u for u in admin_json(c, "user", "list")}
    assert users["cairn"]["bootstrap"] and c.access_key in users["cairn"]["access_keys"]
    assert users["etcd-alt"]["email"] == "etcd-alt@example.com"

    ro = admin_json(c, "key", "create", "--user", "etcd-alt", "--bucket", "idb1", "--read")
    assert ro["user_id"] == made["user_id"] and ro["buckets"] == {"idb1": ["read"]}
    keys = {k["access_key"]: k for k in admin_json(c, "key", "list", "--user", "etcd-alt")}
    assert set(keys) == {made["access_key"], ro["access_key"]}
    clients = _clients(c, ro["access_key"], ro["secret_key"])
    took = _wait_code(clients, lambda s3: s3.get_object(Bucket="idb1", Key="doc"), "ok")
    print(f"\n[identity] read-only key accepted by both gateways after {took}s")
    for s3 in clients:
        with pytest.raises(ClientError) as ei:
            s3.put_object(Bucket="idb1", Key="w", Body=b"no")
        assert error_code(ei.value) == "AccessDenied"

    admin(c, "key", "allow", ro["access_key"], "--bucket", "idb1", "--write")
    put = lambda s3: s3.put_object(Bucket="idb1", Key="w", Body=b"yes")  # noqa: E731
    took = _wait_code(clients, put, "ok")
    print(f"[identity] allow --write seen by both gateways after {took}s")
    assert max(took) <= FOLLOW_S, took
    admin(c, "key", "deny", ro["access_key"], "--bucket", "idb1")
    get = lambda s3: s3.get_object(Bucket="idb1", Key="doc")  # noqa: E731
    took = _wait_code(clients, get, "AccessDenied")
    print(f"[identity] deny seen by both gateways after {took}s")
    assert max(took) <= FOLLOW_S, took

    # Rotation: the old secret is refused everywhere within seconds, the new one works.
    full = _clients(c, made["access_key"], made["secret_key"])
    _wait_code(full, lambda s3: s3.list_buckets(), "ok")
    rotated = admin_json(c, "key", "rotate", made["access_key"])
    took = _wait_code(full, lambda s3: s3.list_buckets(), "SignatureDoesNotMatch")
    print(f"[identity] rotated secret's old value refused by both gateways after {took}s")
    assert max(took) <= FOLLOW_S, took
    fresh = _clients(c, made["access_key"], rotated["secret_key"])
    _wait_code(fresh, lambda s3: s3.list_buckets(), "ok")

    gone = admin_json(c, "user", "delete", "etcd-alt")
    assert sorted(gone["access_keys_deleted"]) == sorted([made["access_key"], ro["access_key"]])
    took = _wait_code(fresh, lambda s3: s3.list_buckets(), "InvalidAccessKeyId")
    print(f"[identity] deleted user's key refused by both gateways after {took}s")
    assert max(took) <= FOLLOW_S, took
    assert "etcd-alt" not in {u["display_name"] for u in admin_json(c, "user", "list")}


def test_json_on_the_cluster_commands(shared_cluster: CairnCluster) -> None:
    c = shared_cluster
    nodes = admin_json(c, "nodes")
    assert isinstance(nodes, list) and len(nodes) == 4
    assert all(n["up"] and n["lease_alive"] for n in nodes)
    layout = admin_json(c, "layout")
    assert isinstance(layout, dict) and layout["replicas"] == 3
    assert sorted(layout["nodes"]) == sorted(n["node_id"] for n in nodes)
    gone = admin(c, "remove-node", "no-such-node", "--json", check=False)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert json.loads(gone.stdout)["error"].startswith("no such node: no-such-node")
    assert len(admin_json(c, "nodes")) == 4
