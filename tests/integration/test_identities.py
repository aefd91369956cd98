"""Users and keys end to end: `cairn admin --data DIR ...` against a running `cairn serve`
(two workers, each with its own key ring), checked with boto3. A key narrowed to a bucket
with read only can GET but not PUT there; allow, deny, rotate and delete take effect within
seconds; secrets are sealed on disk; errors are one clear line and exit status 1."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import lmdb
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server import CairnServer

FOLLOW_S = 5.0  # key rings re-read every 2 s; the rest is for a loaded machine


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    server = CairnServer(tmp_path_factory.mktemp("identities") / "data", workers=2).start()
    yield server
    server.stop()


def admin(srv: CairnServer, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`cairn admin --data DIR ...` as a separate process, beside the running server."""
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--data", str(srv.data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def admin_json(srv: CairnServer, *args: str) -> dict | list:
    return json.loads(admin(srv, *args, "--json").stdout)


def client(srv: CairnServer, access: str, secret: str):
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    return boto3.client(
        "s3",
        endpoint_url=srv.endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=cfg,
    )


def code(call: Callable[[], object]) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def within(seconds: float, call: Callable[[], object], want: str, tries: int = 3) -> float:
    """Seconds until ``call`` answers ``want`` (an error code, or "ok") ``tries`` times in
    a row (so both workers agree), or fail."""
    t0 = time.monotonic()
    streak = 0
    while True:
        got = code(call)
        streak = streak + 1 if got == want else 0
        if streak >= tries:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < seconds, f"still {got} after {seconds}s (want {want})"
        time.sleep(0.1)


def new_bucket(srv: CairnServer) -> str:
    name = f"id-{uuid.uuid4().hex[:12]}"
    client(srv, srv.access_key, srv.secret_key).create_bucket(Bucket=name)
    return name


def test_user_create_json_and_the_new_users_key_works(srv: CairnServer) -> None:
    made = admin_json(srv, "user", "create", "alt", "--email", "alt@example.com")
    assert isinstance(made, dict)
    assert set(made) >= {"user_id", "display_name", "access_key", "secret_key"}
    assert made["display_name"] == "alt" and made["email"] == "alt@example.com"
    assert len(made["user_id"]) == 64
    s3 = client(srv, made["access_key"], made["secret_key"])
    took = within(FOLLOW_S, s3.list_buckets, "ok")
    print(f"\n[identity] a new user's key accepted after {took:.2f}s")

    users = admin_json(srv, "user", "list")
    assert isinstance(users, list)
    by_name = {u["display_name"]: u for u in users}
    boot = by_name["cairn"]
    assert boot["bootstrap"] and boot["user_id"] == "cairn"
    assert srv.access_key in boot["access_keys"]  # the bootstrap key's id, recorded at start
    assert by_name["alt"]["access_keys"] == [made["access_key"]]
    listing = admin(srv, "user", "list").stdout + admin(srv, "key", "list").stdout
    assert srv.secret_key not in listing and made["secret_key"] not in listing


def test_read_only_key_on_a_bucket_can_get_but_not_put(srv: CairnServer) -> None:
    boot = client(srv, srv.access_key, srv.secret_key)
    b, other = new_bucket(srv), new_bucket(srv)
    boot.put_object(Bucket=b, Key="doc", Body=b"readable")
    boot.put_object(Bucket=other, Key="doc", Body=b"not for the reader")
    admin(srv, "user", "create", "reader")
    made = admin_json(srv, "key", "create", "--user", "reader", "--bucket", b, "--read")
    assert made["buckets"] == {b: ["read"]}
    s3 = client(srv, made["access_key"], made["secret_key"])
    within(FOLLOW_S, lambda: s3.head_object(Bucket=b, Key="doc"), "ok")
    assert s3.get_object(Bucket=b, Key="doc")["Body"].read() == b"readable"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["doc"]
    assert code(lambda: s3.put_object(Bucket=b, Key="new", Body=b"x")) == "AccessDenied"
    assert code(lambda: s3.delete_object(Bucket=b, Key="doc")) == "AccessDenied"
    assert code(lambda: s3.get_object(Bucket=other, Key="doc")) == "AccessDenied"
    assert code(lambda: s3.put_object(Bucket=other, Key="x", Body=b"x")) == "AccessDenied"
    # Nothing changed.
    assert [o["Key"] for o in boot.list_objects_v2(Bucket=b)["Contents"]] == ["doc"]
    assert [o["Key"] for o in boot.list_objects_v2(Bucket=other)["Contents"]] == ["doc"]

    # allow --write: the key may now PUT; deny --read: it may no longer GET.
    shown = admin(srv, "key", "allow", made["access_key"], "--bucket", b, "--write").stdout
    assert f"buckets={b}:read+write" in shown
    took = within(FOLLOW_S, lambda: s3.put_object(Bucket=b, Key="new", Body=b"w"), "ok")
    print(f"\n[identity] allow --write effective after {took:.2f}s")
    admin(srv, "key", "deny", made["access_key"], "--bucket", b, "--read")
    took = within(FOLLOW_S, lambda: s3.get_object(Bucket=b, Key="doc"), "AccessDenied")
    print(f"[identity] deny --read effective after {took:.2f}s")
    assert code(lambda: s3.put_object(Bucket=b, Key="new2", Body=b"w")) == "ok"


def test_rotated_keys_old_secret_is_refused_within_seconds(srv: CairnServer) -> None:
    b = new_bucket(srv)
    made = admin_json(srv, "key", "create", "--bucket", b)  # old form: the bootstrap user's
    old = client(srv, made["access_key"], made["secret_key"])
    within(FOLLOW_S, lambda: old.list_objects_v2(Bucket=b), "ok")
    rotated = admin_json(srv, "key", "rotate", made["access_key"])
    assert rotated["access_key"] == made["access_key"]
    assert rotated["secret_key"] != made["secret_key"]
    new = client(srv, made["access_key"], rotated["secret_key"])
    # The new secret works at once (a mismatch makes the ring look again)...
    assert code(lambda: new.list_objects_v2(Bucket=b)) == "ok"
    took = within(FOLLOW_S, lambda: old.list_objects_v2(Bucket=b), "SignatureDoesNotMatch")
    print(f"\n[identity] rotated key's old secret refused after {took:.2f}s")
    assert code(lambda: new.put_object(Bucket=b, Key="k", Body=b"v")) == "ok"

    admin(srv, "key", "delete", made["access_key"])
    took = within(FOLLOW_S, lambda: new.list_objects_v2(Bucket=b), "InvalidAccessKeyId")
    print(f"[identity] deleted key refused after {took:.2f}s")


def test_deleting_a_user_removes_its_keys(srv: CairnServer) -> None:
    made = admin_json(srv, "user", "create", "temp-user")
    s3 = client(srv, made["access_key"], made["secret_key"])
    within(FOLLOW_S, s3.list_buckets, "ok")
    gone = admin_json(srv, "user", "delete", "temp-user")
    assert gone["access_keys_deleted"] == [made["access_key"]]
    within(FOLLOW_S, s3.list_buckets, "InvalidAccessKeyId")
    names = {u["display_name"] for u in admin_json(srv, "user", "list")}
    assert "temp-user" not in names


def test_secrets_are_sealed_on_disk(srv: CairnServer) -> None:
    made = admin_json(srv, "user", "create", "sealed-check")
    mode = stat.S_IMODE((srv.data / "master.key").stat().st_mode)
    assert mode == 0o600
    stored = b"".join(p.read_bytes() for p in (srv.data / "meta").iterdir())
    assert made["access_key"].encode() in stored  # the record is there...
    assert made["secret_key"].encode() not in stored  # ...its secret is not, in the clear
    assert srv.secret_key.encode() not in stored  # nor the bootstrap key's


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "create", "cairn"), "user cairn exists"),
        (("user", "create", "bad name"), "invalid user name"),
        (("user", "delete", "nobody"), "no such user: nobody"),
        (("user", "delete", "cairn"), "bootstrap user"),
        (("key", "create", "--user", "nobody"), "no such user: nobody"),
        (("key", "create", "--read"), "give --bucket"),
        (("key", "rotate", "CAIRNNOSUCHKEY000000"), "no such key"),
        (("key", "delete", "CAIRNNOSUCHKEY000000"), "no such key"),
        (("key", "allow", "CAIRNNOSUCHKEY000000", "--bucket", "b"), "no such key"),
        (("key", "rotate", "CAIRNTESTACCESSKEY01"), "bootstrap key"),
        (("key", "create", "--bucket", "a/b"), "invalid bucket name"),
        (("remove-node", "nope"), "no such node: nope"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(
    srv: CairnServer, args: tuple[str, ...], message: str
) -> None:
    done = admin(srv, *args, check=False)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout
    as_json = admin(srv, *args, "--json", check=False)
    assert as_json.returncode == 1 and message in json.loads(as_json.stdout)["error"]


def test_admin_on_a_directory_that_is_not_a_serve(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--data", str(tmp_path), "user", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4 and "not a cairn serve data directory" in done.stderr  # NO_METADATA


def test_a_gateway_without_the_master_key_refuses_to_start(tmp_path: Path) -> None:
    env = {"CAIRN_CLUSTER_SECRET": "s" * 32, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "gateway", "--meta", f"lmdb:{tmp_path / 'meta'}",
         "--state", str(tmp_path / "state"), "--port", "1"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no master key" in done.stderr and "--master-key-file" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "bad.key").write_text("garbage")
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "gateway", "--meta", f"lmdb:{tmp_path / 'meta'}",
         "--state", str(tmp_path / "state"), "--port", "1",
         "--master-key-file", str(tmp_path / "bad.key")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode != 0 and "not a Cairn master key file" in done.stderr


def test_meta_lmdb_spec_works_as_data_does(srv: CairnServer) -> None:
    """`--meta lmdb:DIR/meta --master-key-file DIR/master.key` is the same store."""
    where = ["--meta", f"lmdb:{srv.data / 'meta'}"]
    base = [sys.executable, "-m", "cairn.cli", "admin", *where]
    made = subprocess.run(
        [*base, "--master-key-file", str(srv.data / "master.key"), "--json",
         "user", "create", "via-meta"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    user = json.loads(made.stdout)
    listed = json.loads(admin(srv, "key", "list", "--user", "via-meta", "--json").stdout)
    assert [k["access_key"] for k in listed] == [user["access_key"]]
    s3 = client(srv, user["access_key"], user["secret_key"])
    within(FOLLOW_S, s3.list_buckets, "ok")
    # Without a master key, making a key is refused (listing needs none).
    refused = subprocess.run(
        [*base, "key", "create", "--user", "via-meta"],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "CAIRN_MASTER_KEY_FILE"},
    )  # fmt: skip
    assert refused.returncode == 1 and "needs the master key" in refused.stderr
    assert subprocess.run([*base, "key", "list"], capture_output=True, timeout=60).returncode == 0


def test_data_without_its_master_key_makes_no_key(tmp_path: Path) -> None:
    """A serve started with --master-key-file elsewhere: `--data` alone must not make a
    master key of its own (keys sealed under it would be refused by the server)."""
    data = tmp_path / "data"
    (data / "meta").mkdir(parents=True)
    lmdb.open(str(data / "meta")).close()  # a metadata store, as a serve leaves it
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--data", str(data), "user", "create", "x"],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "CAIRN_MASTER_KEY_FILE"},
    )  # fmt: skip
    assert done.returncode == 1 and "master.key does not exist" in done.stderr
    assert not (data / "master.key").exists()
