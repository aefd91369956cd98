"""PostObject against a real server: HTML form uploads as browsers send them.

SigV4 forms come from boto3's own ``generate_presigned_post``; SigV2 forms are signed as
old SDKs and the Ceph suite sign them. The forms are posted with ``requests`` (fields
first, the file last, as a browser sends a form), and what was stored is read back with
boto3. The last test streams a 200 MiB form and bounds the server's memory growth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.clients.clients_util import require_binary
from tests.conftest import make_client
from tests.integration.authz_util import new_user, policy_for
from tests.integration.helpers import md5_b64, quoted_etag, unique
from tests.integration.test_large import RssMonitor
from tests.server import CairnServer

MiB = 1024 * 1024
SOON = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def url_of(server: Any, bucket: str) -> str:
    return f"{server.endpoint}/{bucket}"


def post(
    server: Any, bucket: str, fields: dict[str, str], file: bytes, **kw: Any
) -> requests.Response:
    return requests.post(
        url_of(server, bucket),
        data=fields,
        files={"file": ("upload.bin", file, "application/octet-stream")},
        verify=False,
        timeout=60,
        **kw,
    )


@pytest.fixture
def s3v4(server: Any) -> Any:
    """A client whose generate_presigned_post signs with SigV4 (botocore's default for
    presigned POST is still SigV2)."""
    return make_client(server, signature_version="s3v4")


def presigned(s3: Any, bucket: str, key: str, **kw: Any) -> dict[str, str]:
    fields = s3.generate_presigned_post(bucket, key, ExpiresIn=600, **kw)["fields"]
    assert fields.get("x-amz-algorithm") == "AWS4-HMAC-SHA256"  # SigV4 unless asked
    return fields


def v2_fields(server: Any, document: dict[str, Any], **fields: str) -> dict[str, str]:
    policy = base64.b64encode(json.dumps(document).encode())
    signature = hmac.new(server.secret_key.encode(), policy, hashlib.sha1).digest()
    return {
        **fields,
        "AWSAccessKeyId": server.access_key,
        "policy": policy.decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def error_of(resp: requests.Response) -> tuple[str, str]:
    root = ET.fromstring(resp.content)
    return root.findtext("Code") or "", root.findtext("Message") or ""


def absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


# --- uploads that succeed ----------------------------------------------------------------


def test_boto3_presigned_post_round_trip(server, s3, s3v4, bucket) -> None:
    key, body = unique("form/"), os.urandom(100_000)
    fields = presigned(
        s3v4,
        bucket,
        key,
        Fields={"Content-Type": "image/png", "x-amz-meta-owner": "alice", "acl": "private"},
        Conditions=[
            {"Content-Type": "image/png"},
            {"x-amz-meta-owner": "alice"},
            {"acl": "private"},
            ["content-length-range", 1, MiB],
        ],
    )
    resp = post(server, bucket, fields, body)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert resp.headers["etag"] == quoted_etag(body)
    assert resp.headers["location"].endswith(f"/{bucket}/{key}")
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    assert got["ContentType"] == "image/png"
    assert got["Metadata"] == {"owner": "alice"}
    assert got["ETag"] == quoted_etag(body)


def test_key_from_filename_and_201_answer(server, s3, s3v4, bucket) -> None:
    prefix = unique("up/")
    fields = presigned(
        s3v4,
        bucket,
        prefix + "/${filename}",
        Fields={"success_action_status": "201"},
        Conditions=[
            ["starts-with", "$key", prefix + "/"],
            {"success_action_status": "201"},
        ],
    )
    resp = requests.post(
        url_of(server, bucket),
        data=fields,
        files={"file": ("photo 1.jpg", b"jpeg bytes", "image/jpeg")},
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    root = ET.fromstring(resp.content)
    assert root.tag == "PostResponse"  # no namespace, as S3 sends it
    assert root.findtext("Bucket") == bucket
    assert root.findtext("Key") == prefix + "/photo 1.jpg"
    assert root.findtext("ETag") == quoted_etag(b"jpeg bytes")
    location = root.findtext("Location") or ""
    assert location.endswith(f"/{bucket}/{prefix}/photo%201.jpg")
    body = s3.get_object(Bucket=bucket, Key=prefix + "/photo 1.jpg")["Body"].read()
    assert body == b"jpeg bytes"


@pytest.mark.parametrize(("asked", "answered"), [("200", 200), ("204", 204), ("404", 204)])
def test_success_action_status(server, s3, s3v4, bucket, asked, answered) -> None:
    key = unique()
    fields = presigned(
        s3v4,
        bucket,
        key,
        Fields={"success_action_status": asked},
        Conditions=[{"success_action_status": asked}],
    )
    resp = post(server, bucket, fields, b"x")
    assert resp.status_code == answered, resp.text
    assert resp.content == b""
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"


def test_success_action_redirect(server, s3, s3v4, bucket) -> None:
    key, target = unique("a b/"), "https://example.test/done?from=form"
    fields = presigned(
        s3v4,
        bucket,
        key,
        Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}],
    )
    resp = post(server, bucket, fields, b"redirected", allow_redirects=False)
    assert resp.status_code == 303, resp.text
    location = resp.headers["location"]
    assert location.startswith(target + "&")
    query = parse_qs(urlsplit(location).query)
    assert query == {
        "from": ["form"],
        "bucket": [bucket],
        "key": [key],
        "etag": [quoted_etag(b"redirected")],
    }
    assert "%22" in location  # the ETag's quotes, percent-encoded as S3 sends them


def test_boto3_sigv2_presigned_post(server, s3, bucket) -> None:
    key = unique()
    post_form = s3.generate_presigned_post(bucket, key, ExpiresIn=600)
    assert "signature" in post_form["fields"]  # botocore's default: SigV2
    resp = post(server, bucket, post_form["fields"], b"v2 by boto3")
    assert resp.status_code == 204, resp.text
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"v2 by boto3"
    tampered = {**post_form["fields"], "signature": "AAAA" + post_form["fields"]["signature"][4:]}
    resp = post(server, bucket, tampered, b"x")
    assert (resp.status_code, error_of(resp)[0]) == (403, "SignatureDoesNotMatch")


def test_sigv2_form_and_case_insensitive_names(server, s3, bucket) -> None:
    document = {
        "expiration": SOON,
        "conditions": [
            {"bUcKeT": bucket},
            ["StArTs-WiTh", "$KeY", "v2/"],
            ["starts-with", "$Content-Type", "text/"],
            ["content-length-range", 0, 1024],
        ],
    }
    fields = v2_fields(server, document, kEy="v2/a.txt")
    fields["content-type"] = "text/plain"
    resp = post(server, bucket, fields, b"signed with v2")
    assert resp.status_code == 204, resp.text
    got = s3.get_object(Bucket=bucket, Key="v2/a.txt")
    assert got["Body"].read() == b"signed with v2"
    assert got["ContentType"] == "text/plain"


def test_fields_after_the_file_and_x_ignore_fields_are_ignored(server, s3, s3v4, bucket) -> None:
    key = unique()
    fields = presigned(s3v4, bucket, key)
    fields["x-ignore-tracking"] = "123"
    boundary = "cairnform"
    parts = [
        *(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        ),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n',
    ]
    body = "".join(parts).encode() + b"file bytes"
    body += (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nother\r\n'.encode()
    )
    body += f"--{boundary}--\r\n".encode()
    resp = requests.post(
        url_of(server, bucket),
        data=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert resp.status_code == 204, resp.text
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"file bytes"
    assert absent(s3, bucket, "other")


def test_checksum_and_content_md5_fields(server, s3, s3v4, bucket) -> None:
    key, body = unique(), os.urandom(3 * MiB)
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    fields = presigned(s3v4, bucket, key)
    resp = post(server, bucket, {**fields, "x-amz-checksum-sha256": sha}, body)
    assert resp.status_code == 204, resp.text
    assert resp.headers["x-amz-checksum-sha256"] == sha
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha

    other = unique()
    fields = presigned(s3v4, bucket, other)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    resp = post(server, bucket, {**fields, "x-amz-checksum-sha256": wrong}, body)
    assert resp.status_code == 400
    assert error_of(resp)[0] == "BadDigest"
    assert absent(s3, bucket, other)

    fields = presigned(
        s3v4,
        bucket,
        other,
        Fields={"Content-MD5": md5_b64(b"else")},
        Conditions=[{"Content-MD5": md5_b64(b"else")}],
    )
    resp = post(server, bucket, fields, body)
    assert (resp.status_code, error_of(resp)[0]) == (400, "BadDigest")
    assert absent(s3, bucket, other)


# --- refusals ----------------------------------------------------------------------------


def test_content_length_range(server, s3, s3v4, bucket) -> None:
    key = unique()
    fields = presigned(s3v4, bucket, key, Conditions=[["content-length-range", 10, 2 * MiB]])
    resp = post(server, bucket, fields, os.urandom(3 * MiB))
    assert resp.status_code == 400
    assert error_of(resp)[0] == "EntityTooLarge"
    assert absent(s3, bucket, key)
    resp = post(server, bucket, fields, b"tiny")
    assert (resp.status_code, error_of(resp)[0]) == (400, "EntityTooSmall")
    assert absent(s3, bucket, key)
    assert post(server, bucket, fields, b"just right").status_code == 204


def test_policy_conditions_refuse_the_form(server, s3, s3v4, bucket) -> None:
    key = unique()
    fields = presigned(s3v4, bucket, key, Conditions=[["starts-with", "$key", "allowed/"]])
    resp = post(server, bucket, fields, b"x")
    assert resp.status_code == 403
    code, message = error_of(resp)
    assert code == "AccessDenied"
    assert message.startswith("Invalid according to Policy: Policy Condition failed:")

    fields = presigned(s3v4, bucket, key)
    resp = post(server, bucket, {**fields, "x-amz-meta-extra": "v"}, b"x")
    assert error_of(resp) == (
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: x-amz-meta-extra",
    )

    resp = post(server, unique("nobucket"), presigned(s3v4, bucket, key), b"x")
    assert resp.status_code == 403  # the policy names the bucket it was made for
    assert absent(s3, bucket, key)


def test_expired_policy_and_bad_signatures(server, s3, s3v4, bucket) -> None:
    key = unique()
    document = {"expiration": "2001-01-01T00:00:00.000Z", "conditions": [{"key": key}]}
    resp = post(server, bucket, v2_fields(server, document, key=key), b"x")
    assert error_of(resp) == ("AccessDenied", "Invalid according to Policy: Policy expired.")

    fields = presigned(s3v4, bucket, key)
    resp = post(server, bucket, {**fields, "x-amz-signature": "0" * 64}, b"x")
    assert (resp.status_code, error_of(resp)[0]) == (403, "SignatureDoesNotMatch")

    bad_key = {**fields, "x-amz-credential": "NOSUCH" + fields["x-amz-credential"]}
    resp = post(server, bucket, bad_key, b"x")
    assert (resp.status_code, error_of(resp)[0]) == (403, "InvalidAccessKeyId")
    assert absent(s3, bucket, key)


def test_malformed_forms(server, s3, s3v4, bucket) -> None:
    document = {"expiration": SOON, "conditions": [{"bucket": bucket}]}
    resp = post(server, bucket, v2_fields(server, document), b"x")  # no key
    assert (resp.status_code, error_of(resp)[0]) == (400, "InvalidArgument")

    fields = v2_fields(server, {"expiration": SOON})
    resp = post(server, bucket, {**fields, "key": "k"}, b"x")
    assert error_of(resp) == ("InvalidPolicyDocument", "Invalid Policy: Policy missing conditions.")

    resp = requests.post(url_of(server, bucket), data={"key": "k"}, timeout=60)
    assert (resp.status_code, error_of(resp)[0]) == (412, "PreconditionFailed")

    resp = requests.post(url_of(server, bucket), files={"key": (None, "k")}, timeout=60)
    assert (resp.status_code, error_of(resp)[0]) == (400, "InvalidArgument")  # no file

    big = {**presigned(s3v4, bucket, "k"), "x-ignore-pad": "p" * 30_000}
    resp = post(server, bucket, big, b"x")
    assert (resp.status_code, error_of(resp)[0]) == (400, "MaxPostPreDataLengthExceeded")
    assert absent(s3, bucket, "k")


def test_a_form_without_policy_is_anonymous(server, s3, bucket) -> None:
    """Anonymous writes are refused until an ACL or bucket policy allows them."""
    key = unique()
    resp = requests.post(
        url_of(server, bucket), files={"key": (None, key), "file": ("f", b"x")}, timeout=60
    )
    assert (resp.status_code, error_of(resp)[0]) == (403, "AccessDenied")
    assert absent(s3, bucket, key)


# --- memory ------------------------------------------------------------------------------


def _form_stream(
    fields: dict[str, str], size: int, boundary: str
) -> tuple[int, Iterator[bytes], str]:
    """A form whose file is ``size`` distinct bytes, generated piece by piece; its length,
    the pieces, and the file's MD5 (hex)."""
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
    tail = f"\r\n--{boundary}--\r\n".encode()
    base = os.urandom(MiB)
    md5 = hashlib.md5()
    for i in range(size // MiB):
        md5.update(struct.pack(">Q", i) + base[8:])

    def pieces() -> Iterator[bytes]:
        yield head.encode()
        for i in range(size // MiB):
            yield struct.pack(">Q", i) + base[8:]
        yield tail

    return len(head.encode()) + size + len(tail), pieces(), md5.hexdigest()


@pytest.mark.timeout(600)
def test_200mib_form_streams_with_bounded_memory(private_server) -> None:
    srv = private_server.start()
    s3 = make_client(srv)
    s3.create_bucket(Bucket="forms")
    size = 200 * MiB
    s3v4 = make_client(srv, signature_version="s3v4")
    fields = presigned(s3v4, "forms", "big.bin", Conditions=[["content-length-range", 0, size]])
    length, pieces, md5 = _form_stream(fields, size, "cairnbigform")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=300)
    assert srv.proc is not None
    with RssMonitor(srv.proc.pid) as mon:
        before = mon._status().get("RssAnon", 0)
        conn.putrequest("POST", "/forms")
        conn.putheader("Content-Type", "multipart/form-data; boundary=cairnbigform")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        for piece in pieces:
            conn.send(piece)
        resp = conn.getresponse()
        resp.read()
    conn.close()
    assert resp.status == 204
    head = s3.head_object(Bucket="forms", Key="big.bin")
    assert head["ContentLength"] == size
    assert head["ETag"] == f'"{md5}"'
    growth = mon.peak_anon - before
    print(f"\n[post 200 MiB] anon RSS before={before / MiB:.0f} MiB growth={growth / MiB:.0f} MiB")
    assert growth < 64 * MiB, f"server anonymous RSS grew {growth / MiB:.0f} MiB"


def test_utf8_fields_are_stored_as_a_put_with_those_bytes(server, s3, s3v4, bucket) -> None:
    key = unique("ü/")
    disposition = 'attachment; filename="naïve 日本.pdf"'
    fields = presigned(
        s3v4,
        bucket,
        key,
        Fields={"Content-Disposition": disposition},
        Conditions=[{"Content-Disposition": disposition}],
    )
    resp = post(server, bucket, fields, b"pdf")
    assert resp.status_code == 204, resp.text
    url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": key})
    got = requests.head(url, timeout=60)
    assert got.status_code == 200
    assert got.headers["content-disposition"].encode("latin-1") == disposition.encode("utf-8")


def test_empty_key_and_tagging_and_acl_fields(server, s3, s3v4, bucket) -> None:
    fields = presigned(s3v4, bucket, "${filename}")
    resp = requests.post(
        url_of(server, bucket), data=fields, files={"file": ("", b"x")}, timeout=60
    )
    assert (resp.status_code, error_of(resp)[0]) == (400, "InvalidArgument")

    key = unique()
    tagging = "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>"
    fields = presigned(
        s3v4,
        bucket,
        key,
        Fields={"tagging": tagging, "acl": "private"},
        Conditions=[{"tagging": tagging}, {"acl": "private"}],
    )
    assert post(server, bucket, fields, b"tagged").status_code == 204
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"tagged"

    fields = presigned(
        s3v4, bucket, key, Fields={"tagging": "<Tagging>"}, Conditions=[{"tagging": "<Tagging>"}]
    )
    resp = post(server, bucket, fields, b"x")
    assert (resp.status_code, error_of(resp)[0]) == (400, "MalformedXML")


# --- authorization: a form upload is decided as a PutObject of its key --------------------


@pytest.fixture(scope="module")
def two_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any, Any]]:
    """A server of its own with a second user: (server, A's client, B's client, B)."""
    srv = CairnServer(tmp_path_factory.mktemp("post-authz") / "data").start()
    try:
        b = new_user(srv, "post-b")
        v4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        ca = boto3.client(
            "s3",
            endpoint_url=srv.endpoint,
            aws_access_key_id=srv.access_key,
            aws_secret_access_key=srv.secret_key,
            region_name="us-east-1",
            config=v4,
        )
        cb = boto3.client(
            "s3",
            endpoint_url=srv.endpoint,
            aws_access_key_id=b.access_key,
            aws_secret_access_key=b.secret_key,
            region_name="us-east-1",
            config=v4,
        )
        cb.list_buckets()  # B's first request: the key ring knows B now
        yield srv, ca, cb, b
    finally:
        srv.stop()


def test_b_form_is_refused_on_a_bucket_without_a_grant_and_served_with_one(two_users) -> None:
    srv, ca, cb, b = two_users
    bucket, key = unique("a-post"), unique("from-b")
    ca.create_bucket(Bucket=bucket)
    resp = post(srv, bucket, presigned(cb, bucket, key), b"from b")
    assert (resp.status_code, error_of(resp)[0]) == (403, "AccessDenied")
    assert absent(ca, bucket, key)

    grant = policy_for(b.user_id, ["s3:PutObject"], [f"arn:aws:s3:::{bucket}/uploads/*"])
    ca.put_bucket_policy(Bucket=bucket, Policy=grant)
    resp = post(srv, bucket, presigned(cb, bucket, key), b"from b")
    assert (resp.status_code, error_of(resp)[0]) == (403, "AccessDenied")  # outside uploads/
    resp = post(srv, bucket, presigned(cb, bucket, "uploads/" + key), b"from b")
    assert resp.status_code == 204, resp.text
    # B wrote it: B owns it (its ACL is B's alone, as a PutObject by B would make it).
    assert cb.get_object(Bucket=bucket, Key="uploads/" + key)["Body"].read() == b"from b"


def test_acl_field_is_seen_by_the_bucket_policy_and_stored(two_users) -> None:
    """A policy condition on s3:x-amz-acl reads the form's ``acl`` field, and the ACL it
    names is the new object's: public-read lets an anonymous reader GET it."""
    srv, ca, cb, b = two_users
    bucket, key = unique("a-acl"), unique("k")
    ca.create_bucket(Bucket=bucket)
    document = json.loads(policy_for(b.user_id, ["s3:PutObject"], [f"arn:aws:s3:::{bucket}/*"]))
    document["Statement"][0]["Condition"] = {"StringEquals": {"s3:x-amz-acl": "public-read"}}
    ca.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))

    resp = post(srv, bucket, presigned(cb, bucket, key), b"no acl")
    assert (resp.status_code, error_of(resp)[0]) == (403, "AccessDenied")
    fields = presigned(
        cb, bucket, key, Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}]
    )
    resp = post(srv, bucket, fields, b"public")
    assert resp.status_code == 204, resp.text
    anonymous = requests.get(f"{srv.endpoint}/{bucket}/{key}", timeout=60)
    assert (anonymous.status_code, anonymous.content) == (200, b"public")


def test_anonymous_form_needs_a_bucket_that_lets_anyone_write(two_users) -> None:
    srv, ca, _, _ = two_users
    private, public, key = unique("private"), unique("public"), unique("anon")
    ca.create_bucket(Bucket=private)
    ca.create_bucket(Bucket=public, ACL="public-read-write")
    form = {"key": (None, key), "file": ("f", b"anonymous bytes")}
    resp = requests.post(f"{srv.endpoint}/{private}", files=form, timeout=60)
    assert (resp.status_code, error_of(resp)[0]) == (403, "AccessDenied")
    resp = requests.post(f"{srv.endpoint}/{public}", files=form, timeout=60)
    assert resp.status_code == 204, resp.text
    assert ca.get_object(Bucket=public, Key=key)["Body"].read() == b"anonymous bytes"


def test_curl_form_with_expect_100_continue(server, s3, s3v4, bucket, tmp_path) -> None:
    """curl -F, as a script would post a form: over 1 MiB it sends Expect: 100-continue
    and waits for the server to ask for the body, which the form reader does."""
    curl = require_binary("curl")
    path = tmp_path / "photo.bin"
    path.write_bytes(os.urandom(3 * MiB + 17))
    prefix = unique("curl")
    fields = presigned(
        s3v4, bucket, prefix + "/${filename}", Conditions=[["starts-with", "$key", prefix + "/"]]
    )
    args = [curl, "-sS", "-v", "-o", "/dev/null", "-w", "%{http_code}"]
    for name, value in fields.items():
        args += ["--form-string", f"{name}={value}"]
    args += ["-F", f"file=@{path}", url_of(server, bucket)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.stdout == "204", done.stderr
    assert "Expect: 100-continue" in done.stderr
    got = s3.get_object(Bucket=bucket, Key=prefix + "/photo.bin")["Body"].read()
    assert got == path.read_bytes()


def test_virtual_host_style_form(tmp_path) -> None:
    """POST http://BUCKET.DOMAIN/ is the same upload (no DNS here: the form goes to
    127.0.0.1 with the Host a browser would send)."""
    srv = CairnServer(tmp_path / "data", extra_args=["--domain", "s3.example"]).start()
    try:
        make_client(srv).create_bucket(Bucket="vforms")
        v4 = make_client(srv, signature_version="s3v4")
        fields = presigned(
            v4,
            "vforms",
            "v/k.txt",
            Fields={"success_action_status": "201"},
            Conditions=[{"success_action_status": "201"}],
        )
        host = f"vforms.s3.example:{srv.port}"
        resp = requests.post(
            f"http://127.0.0.1:{srv.port}/",
            headers={"Host": host},
            data=fields,
            files={"file": ("k.txt", b"virtual form")},
            timeout=60,
        )
        assert resp.status_code == 201, resp.text
        assert ET.fromstring(resp.content).findtext("Location") == f"http://{host}/v/k.txt"
        got = make_client(srv).get_object(Bucket="vforms", Key="v/k.txt")["Body"].read()
        assert got == b"virtual form"
    finally:
        srv.stop()
