"""The access log: a JSON line per request with the fields an operator needs, failures
(bad signature, 404) included, and never a secret (secret key, signature, SSE-C key)."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.server import CairnServer

FIELDS = [
    "time", "request_id", "remote", "access_key", "user", "operation", "bucket", "key",
    "status", "error", "bytes_in", "bytes_out", "duration_ms",
]  # fmt: skip


def read_lines(path: Path, want: int, timeout: float = 5.0) -> list[dict]:
    """The log's lines, once at least ``want`` have been flushed."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_lines_for_successes_and_failures_without_secrets(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    srv = CairnServer(tmp_path / "data", extra_args=["--access-log", str(log)]).start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="logged")
        s3.put_object(Bucket="logged", Key="dir/obj.txt", Body=b"x" * 1234)
        assert s3.get_object(Bucket="logged", Key="dir/obj.txt")["Body"].read() == b"x" * 1234
        with pytest.raises(ClientError):
            s3.get_object(Bucket="logged", Key="missing")
        bad = make_client(CairnServer(srv.data, port=srv.port, secret_key="not-the-secret"))
        with pytest.raises(ClientError):
            bad.list_objects_v2(Bucket="logged")
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": "logged", "Key": "dir/obj.txt"}, ExpiresIn=60
        )
        assert httpx.get(url, timeout=5).status_code == 200
        query = parse_qs(urlsplit(url).query)
        signature = (query.get("X-Amz-Signature") or query["Signature"])[0]
        sse_key = os.urandom(32)
        with pytest.raises(
            ClientError
        ):  # SSE-C over plain HTTP is refused; its key must not be logged
            s3.put_object(
                Bucket="logged", Key="secret", Body=b"s", SSECustomerAlgorithm="AES256",
                SSECustomerKey=sse_key,
            )  # fmt: skip
        lines = read_lines(log, 8)
        assert len(lines) == 8, lines
        for line in lines:
            assert list(line) == FIELDS
            assert len(line["request_id"]) == 16 and line["remote"] == "127.0.0.1"
            assert line["time"].endswith("Z") and line["duration_ms"] >= 0
        probe, create, put, get, missing, denied, presigned, refused = lines
        # The test's own start-up probe: an anonymous GET / is refused, and logged.
        assert (probe["operation"], probe["status"], probe["access_key"]) == (
            "ListBuckets",
            403,
            "",
        )
        assert create["operation"] == "CreateBucket" and create["status"] == 200
        assert put["operation"] == "PutObject" and put["key"] == "dir/obj.txt"
        assert (put["bucket"], put["bytes_in"], put["status"]) == ("logged", 1234, 200)
        assert put["access_key"] == srv.access_key and put["user"]
        assert (get["operation"], get["bytes_out"], get["bytes_in"]) == ("GetObject", 1234, 0)
        assert (missing["status"], missing["error"], missing["key"]) == (
            404,
            "NoSuchKey",
            "missing",
        )
        assert denied["status"] == 403 and denied["error"] == "SignatureDoesNotMatch"
        assert denied["access_key"] == srv.access_key and denied["user"] == put["user"]
        assert presigned["operation"] == "GetObject" and presigned["access_key"] == srv.access_key
        assert refused["status"] == 400 and refused["error"] == "InvalidRequest"
        raw = log.read_text()
        for secret in (
            srv.secret_key, "not-the-secret", signature, base64.b64encode(sse_key).decode(),
            "Signature=", "Authorization", "AWS4-HMAC-SHA256", "Credential=",
        ):  # fmt: skip
            assert secret not in raw, f"{secret!r} leaked into the access log"
    finally:
        srv.stop()


def test_default_is_stderr_and_off_is_off(tmp_path: Path) -> None:
    on = CairnServer(tmp_path / "on").start()
    off = CairnServer(tmp_path / "off", extra_args=["--access-log", "off"]).start()
    try:
        for srv in (on, off):
            with pytest.raises(ClientError):
                make_client(srv).head_bucket(Bucket="nothing-here")
        lines = read_lines(on.log_path, 2)
        assert [x["operation"] for x in lines] == ["ListBuckets", "HeadBucket"]
        assert lines[1]["status"] == 404 and lines[1]["error"] == "NoSuchBucket"
        time.sleep(0.5)  # past a flush
        assert '"request_id"' not in off.log_path.read_text()
    finally:
        on.stop()
        off.stop()


def test_audit_trail_of_access_changes_and_admin_commands(tmp_path: Path) -> None:
    """Policy and ACL changes through S3, and user and key changes through `cairn admin`,
    each leave one entry (who, what, when, on what); refused changes and reads none; the
    trail holds no secret."""
    import subprocess
    import sys

    srv = CairnServer(tmp_path / "data").start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="audited")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::audited/*"}],
        }  # fmt: skip
        s3.put_bucket_policy(Bucket="audited", Policy=json.dumps(policy))
        with pytest.raises(ClientError):
            s3.put_bucket_policy(Bucket="audited", Policy="{not json")
        s3.get_bucket_policy(Bucket="audited")
        s3.put_object(Bucket="audited", Key="o", Body=b"x")
        s3.put_object_acl(Bucket="audited", Key="o", ACL="public-read")
        s3.delete_bucket_policy(Bucket="audited")

        def admin(*args: str) -> str:
            cmd = [sys.executable, "-m", "cairn.cli", "admin", "--data", str(srv.data), *args]
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

        made = json.loads(admin("user", "create", "alice", "--json"))
        admin("key", "list")  # a read: not audited
        meta = f"lmdb:{srv.data / 'meta'}"
        out = subprocess.run(
            [sys.executable, "-m", "cairn.audit", "--meta", meta],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        entries = [json.loads(x) for x in out.splitlines()]
        assert [(e["action"], e["target"]) for e in entries] == [
            ("PutBucketPolicy", "audited"),
            ("PutObjectAcl", "audited/o"),
            ("DeleteBucketPolicy", "audited"),
            ("admin user create", "alice"),
        ]
        assert entries[0]["who"].startswith(srv.access_key)
        assert "@" in entries[3]["who"] and entries[3]["time"].endswith("Z")
        assert made["secret_key"] and made["secret_key"] not in out
        assert srv.secret_key not in out
    finally:
        srv.stop()
