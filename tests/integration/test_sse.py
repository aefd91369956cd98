"""Server-side encryption end to end (issue 17): a real `cairn serve` and boto3.

Every mode (SSE-S3, SSE-C, SSE-KMS, bucket default) through PUT, multipart and copy, with
ranged GETs at chunk and block boundaries; AWS's errors for bad input, with nothing
stored; and the bytes on disk checked for the plaintext, which must not be there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mmap
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.integration.helpers import get_bytes, headers_of, object_absent, s3_error
from tests.server import CairnServer

MiB = 1 << 20
CHUNK = 64 << 10
BLOCK = MiB  # the servers below cut 1 MiB blocks, so objects of a few MiB span several


def customer(key: bytes, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}SSECustomerAlgorithm": "AES256",
        f"{prefix}SSECustomerKey": base64.b64encode(key).decode(),
        f"{prefix}SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


KEY_A, KEY_B = os.urandom(32), os.urandom(32)
SSE_C = customer(KEY_A)
SSE_S3 = {"ServerSideEncryption": "AES256"}
SSE_KMS = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "app-key"}
MODES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # mode: (write arguments, read arguments)
    "plain": ({}, {}),
    "sse-s3": (SSE_S3, {}),
    "sse-c": (SSE_C, SSE_C),
    "sse-kms": (SSE_KMS, {}),
}


def admin(srv: CairnServer, *args: str) -> str:
    cmd = [sys.executable, "-m", "cairn.cli", "admin", "--data", str(srv.data), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    srv = CairnServer(
        tmp_path_factory.mktemp("sse") / "data",
        extra_args=["--allow-ssec-over-http", "--block-size", str(BLOCK)],
    ).start()
    admin(srv, "kms", "create", "app-key")
    yield srv
    srv.stop()


@pytest.fixture
def s3(sse_server: CairnServer) -> Any:
    return make_client(sse_server)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"sse-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def stored_bytes(srv: CairnServer) -> list[Path]:
    return sorted((srv.data / "blocks").glob("node-*/data.mdb")) + [srv.data / "meta" / "data.mdb"]


def on_disk(srv: CairnServer, needle: bytes) -> bool:
    for path in stored_bytes(srv):
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(needle) >= 0:
                return True
    return False


# ---------------------------------------------------------------------- every mode


@pytest.mark.parametrize("mode", ["sse-s3", "sse-c", "sse-kms"])
def test_put_get_head_and_ranges_at_chunk_and_block_edges(s3, bucket, sse_server, mode):
    write, read = MODES[mode]
    body = os.urandom(2 * BLOCK + 3 * CHUNK + 11)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body, **write)
    got = s3.get_object(Bucket=bucket, Key="obj", **read)
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="obj", **read)
    assert head["ContentLength"] == len(body)
    for answer in (put, got, head):
        h = headers_of(answer)
        if mode == "sse-c":
            assert h["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
            assert h["x-amz-server-side-encryption-customer-key-md5"] == SSE_C["SSECustomerKeyMD5"]
        else:
            assert h["x-amz-server-side-encryption"] == write["ServerSideEncryption"]
        if mode == "sse-kms":
            assert h["x-amz-server-side-encryption-aws-kms-key-id"] == "app-key"
    md5 = hashlib.md5(body).hexdigest()
    # SSE-S3 keeps the plaintext's MD5 as its ETag; SSE-C and SSE-KMS do not show it (AWS).
    assert (put["ETag"].strip('"') == md5) == (mode == "sse-s3")
    for start, end in (
        (0, 0), (CHUNK - 1, CHUNK), (CHUNK, CHUNK), (CHUNK - 1, CHUNK + 1),
        (BLOCK - 1, BLOCK), (BLOCK - 5, BLOCK + CHUNK + 5), (2 * BLOCK, len(body) - 1),
        (len(body) - 1, len(body) - 1), (3, 2 * BLOCK + 7),
    ):  # fmt: skip
        part = get_bytes(s3, bucket, "obj", Range=f"bytes={start}-{end}", **read)
        assert part == body[start : end + 1], (start, end)
    assert not on_disk(sse_server, body[BLOCK + 100 : BLOCK + 164])


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK + 1])
@pytest.mark.parametrize("mode", ["sse-s3", "sse-c", "sse-kms"])
def test_small_objects_stored_inline_are_encrypted_too(s3, bucket, sse_server, mode, size):
    write, read = MODES[mode]
    body = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="small", Body=body, **write)
    assert get_bytes(s3, bucket, "small", **read) == body
    if size >= 64:
        assert not on_disk(sse_server, body[:64])
        if size > 10:
            assert get_bytes(s3, bucket, "small", Range="bytes=5-9", **read) == body[5:10]


def test_the_plaintext_control_is_on_disk(s3, bucket, sse_server):
    """The at-rest checks above can fail: an unencrypted object's bytes are found."""
    body = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="plain", Body=body)
    assert on_disk(sse_server, body[1000:1064])


# ---------------------------------------------------------------------- SSE-C keys


def test_sse_c_reads_need_the_key_and_refuse_a_wrong_one(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"secret bytes", **SSE_C)
    with s3_error("InvalidRequest", 400):
        s3.get_object(Bucket=bucket, Key="c")
    with s3_error("AccessDenied", 403):  # a well-formed key, not the object's
        s3.get_object(Bucket=bucket, Key="c", **customer(KEY_B))
    for read, status in (({}, 400), (customer(KEY_B), 403)):
        with pytest.raises(Exception) as caught:
            s3.head_object(Bucket=bucket, Key="c", **read)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    s3.put_object(Bucket=bucket, Key="p", Body=b"plain")
    with s3_error("InvalidRequest", 400):
        s3.get_object(Bucket=bucket, Key="p", **SSE_C)  # a key for an object without one
    s3.put_object(Bucket=bucket, Key="s", Body=b"s3", **SSE_S3)

    def add_header(request: Any, **_: Any) -> None:  # boto3 has no such GET parameter
        request.headers["x-amz-server-side-encryption"] = "AES256"

    s3.meta.events.register("before-sign.s3.GetObject", add_header)
    with s3_error("InvalidArgument", 400):  # AWS: reads take no SSE-S3 header
        s3.get_object(Bucket=bucket, Key="s")
    s3.meta.events.unregister("before-sign.s3.GetObject", add_header)


def test_bad_encryption_input_is_refused_and_stores_nothing(s3, bucket):
    md5_of = lambda k: base64.b64encode(hashlib.md5(k).digest()).decode()  # noqa: E731
    short = os.urandom(16)
    cases = [
        {**SSE_C, "SSECustomerKey": base64.b64encode(short).decode(),
         "SSECustomerKeyMD5": md5_of(short)},  # a key of the wrong length
        {**SSE_C, "SSECustomerKeyMD5": md5_of(KEY_B)},  # the MD5 of another key
        {**SSE_C, "SSECustomerAlgorithm": "AES128"},  # an unknown algorithm
        {**SSE_C, **SSE_S3},  # SSE-C and SSE-S3 in one request
        {"ServerSideEncryption": "AES256", "SSEKMSKeyId": "app-key"},  # key id without kms
    ]  # fmt: skip
    for extra in cases:
        with s3_error("InvalidArgument", 400):
            s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **extra)
        assert object_absent(s3, bucket, "bad")
    with s3_error("KMS.NotFoundException", 400):
        s3.put_object(
            Bucket=bucket, Key="bad", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="nope"
        )
    assert object_absent(s3, bucket, "bad")
    unknown = {"ServerSideEncryption": "aes:kms"}
    with s3_error("InvalidArgument", 400):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **unknown)
    assert object_absent(s3, bucket, "bad")


def test_sse_c_over_plain_http_is_refused_without_the_option(tmp_path: Path):
    srv = CairnServer(tmp_path / "data").start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="plainhttp")
        with s3_error("InvalidRequest", 400):
            s3.put_object(Bucket="plainhttp", Key="c", Body=b"x", **SSE_C)
        assert object_absent(s3, "plainhttp", "c")
        s3.put_object(Bucket="plainhttp", Key="s", Body=b"x", **SSE_S3)  # SSE-S3 is fine
    finally:
        srv.stop()


# ---------------------------------------------------------------------- multipart


@pytest.mark.parametrize("mode", ["sse-s3", "sse-c", "sse-kms"])
def test_multipart_in_every_mode(s3, bucket, sse_server, mode):
    write, read = MODES[mode]
    parts = [os.urandom(5 * MiB + 7), os.urandom(CHUNK + 3)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **write)
    done = []
    for n, data in enumerate(parts, 1):
        part_args = SSE_C if mode == "sse-c" else {}
        r = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=data, **part_args
        )
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    if mode == "sse-c":
        with s3_error("InvalidRequest", 400):  # a part under another key is refused
            s3.upload_part(
                Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=3, Body=b"x",
                **customer(KEY_B),
            )  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": done},
        **(SSE_C if mode == "sse-c" else {}),
    )  # fmt: skip
    body = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp", **read)
    assert got["Body"].read() == body
    assert got["ETag"].endswith('-2"')
    edge = len(parts[0])
    part = get_bytes(s3, bucket, "mp", Range=f"bytes={edge - 3}-{edge + CHUNK}", **read)
    assert part == body[edge - 3 : edge + CHUNK + 1]
    assert not on_disk(sse_server, parts[0][2 * BLOCK : 2 * BLOCK + 64])


# ---------------------------------------------------------------------- copies


@pytest.mark.parametrize("dst", list(MODES))
@pytest.mark.parametrize("src", list(MODES))
def test_copy_between_every_pair_of_modes(s3, bucket, src, dst):
    s_write, s_read = MODES[src]
    d_write, d_read = MODES[dst]
    if dst == "sse-c":
        d_write = d_read = customer(KEY_B)
    body = os.urandom(BLOCK + CHUNK + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **s_write)
    source_key = {f"CopySource{k}": v for k, v in s_read.items()}
    r = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
        **d_write, **source_key,
    )  # fmt: skip
    h = headers_of(r)
    if dst in ("sse-s3", "sse-kms"):
        assert h["x-amz-server-side-encryption"] == d_write["ServerSideEncryption"]
    assert get_bytes(s3, bucket, "dst", **d_read) == body
    assert get_bytes(s3, bucket, "dst", Range="bytes=70000-70010", **d_read) == body[70000:70011]
    if dst == "sse-c":
        with s3_error("AccessDenied", 403):
            s3.get_object(Bucket=bucket, Key="dst", **SSE_C)  # the source's key does not open it


def test_copy_of_an_sse_c_source_needs_its_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"secret", **SSE_C)
    with s3_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert object_absent(s3, bucket, "dst")


@pytest.mark.parametrize("src", ["plain", "sse-c", "sse-kms"])
def test_upload_part_copy_into_an_encrypted_upload(s3, bucket, src):
    s_write, s_read = MODES[src]
    body = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **s_write)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst", **customer(KEY_B))
    r = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=1-{5 * MiB}",
        **{f"CopySource{k}": v for k, v in s_read.items()}, **customer(KEY_B),
    )  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]},
        **customer(KEY_B),
    )  # fmt: skip
    assert get_bytes(s3, bucket, "dst", **customer(KEY_B)) == body[1 : 5 * MiB + 1]


# ---------------------------------------------------------------------- bucket default


def test_bucket_default_encryption_applies_to_put_copy_and_multipart(s3, bucket, sse_server):
    with s3_error("ServerSideEncryptionConfigurationNotFoundError", 404):
        s3.get_bucket_encryption(Bucket=bucket)
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": "app-key"}, "BucketKeyEnabled": True}  # fmt: skip
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    default = got["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "app-key"}
    body = os.urandom(2000)
    put = s3.put_object(Bucket=bucket, Key="a", Body=body)
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == "app-key"
    assert put["BucketKeyEnabled"] is True
    assert not on_disk(sse_server, body[:64])
    cp = s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    assert headers_of(cp)["x-amz-server-side-encryption"] == "aws:kms"
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert up["ServerSideEncryption"] == "aws:kms"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"])
    explicit = s3.put_object(Bucket=bucket, Key="c", Body=b"x", **SSE_S3)  # asked wins
    assert explicit["ServerSideEncryption"] == "AES256"
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    with s3_error("ServerSideEncryptionConfigurationNotFoundError", 404):
        s3.get_bucket_encryption(Bucket=bucket)
    assert get_bytes(s3, bucket, "a") == body


def test_bucket_default_with_an_unknown_kms_key_is_refused(s3, bucket):
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": "nope"}}  # fmt: skip
    with s3_error("KMS.NotFoundException", 400):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    with s3_error("ServerSideEncryptionConfigurationNotFoundError", 404):
        s3.get_bucket_encryption(Bucket=bucket)


def test_kms_keys_are_listed_by_name_only(sse_server):
    listed = json.loads(admin(sse_server, "kms", "list", "--json"))
    assert listed == {"kms_keys": ["aws/s3", "app-key"]}  # the default one, then ours


def test_copy_onto_a_new_customer_key_encrypts_anew(s3, bucket):
    """Copying an SSE-C object onto another key is how S3 users rotate keys: the copy gets
    a data key of its own (its ETag, MD5 of the plaintext MD5 and the data key, differs),
    while a copy under the same key may share the source's blocks and data key."""
    body = os.urandom(BLOCK + CHUNK + 5)
    src = s3.put_object(Bucket=bucket, Key="src", Body=body, **SSE_C)
    source_key = {f"CopySource{k}": v for k, v in SSE_C.items()}
    same = s3.copy_object(
        Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "src"},
        **SSE_C, **source_key,
    )  # fmt: skip
    moved = s3.copy_object(
        Bucket=bucket, Key="moved", CopySource={"Bucket": bucket, "Key": "src"},
        **customer(KEY_B), **source_key,
    )  # fmt: skip
    assert same["CopyObjectResult"]["ETag"] == src["ETag"]
    assert moved["CopyObjectResult"]["ETag"] != src["ETag"]
    assert get_bytes(s3, bucket, "moved", **customer(KEY_B)) == body
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=bucket, Key="moved", **SSE_C)


def test_aws_kms_without_a_key_id_uses_the_default_kms_key(s3, bucket):
    """As on AWS, whose managed key aws/s3 encrypts what names no key: a new key file has
    a KMS key of that name, for requests and bucket defaults that name none."""
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"kms bytes", ServerSideEncryption="aws:kms")
    assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == "aws/s3"
    assert get_bytes(s3, bucket, "k") == b"kms bytes"
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    h = s3.head_object(Bucket=bucket, Key=s3.put_object(Bucket=bucket, Key="d", Body=b"d") and "d")
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == "aws/s3"
