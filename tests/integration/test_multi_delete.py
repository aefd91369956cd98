"""DeleteObjects: verbose and quiet, missing keys, Content-MD5 and checksums, malformed XML."""

from __future__ import annotations

from xml.sax.saxutils import escape

from tests.integration.helpers import (
    get_bytes,
    md5_b64,
    object_absent,
    parse_xml,
    raw_signed,
    s3_error,
    status_of,
)


def put_keys(s3, bucket, keys):
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())


def listed(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def delete_xml(keys, quiet: bool = False) -> bytes:
    objs = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    q = "<Quiet>true</Quiet>" if quiet else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{q}{objs}</Delete>'
    ).encode()


def test_delete_objects_verbose(s3, bucket):
    keys = ["a", "b/c", "d e", "ü&<x>"]
    put_keys(s3, bucket, keys + ["keep"])
    sent: list[dict[str, str]] = []
    s3.meta.events.register(
        "before-send.s3.DeleteObjects",
        lambda request, **kw: sent.append({k.lower(): v for k, v in request.headers.items()}),
    )
    resp = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": False}
    )
    # Current botocore proves integrity with a flexible checksum, not Content-MD5.
    assert any(h.startswith("x-amz-checksum-") for h in sent[0]), sent
    assert status_of(resp) == 200
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys)
    assert "Errors" not in resp
    assert listed(s3, bucket) == ["keep"]
    for key in keys:
        assert object_absent(s3, bucket, key)


def test_delete_objects_quiet(s3, bucket):
    keys = [f"q{i}" for i in range(5)]
    put_keys(s3, bucket, keys + ["keep"])
    resp = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
    )
    assert status_of(resp) == 200
    assert "Deleted" not in resp
    assert "Errors" not in resp
    assert listed(s3, bucket) == ["keep"]


def test_delete_objects_missing_keys_reported_deleted(s3, bucket):
    put_keys(s3, bucket, ["present"])
    keys = ["present", "missing-1", "missing/2"]
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys)
    assert "Errors" not in resp
    assert listed(s3, bucket) == []


def test_delete_objects_with_version_id_null(s3, bucket):
    put_keys(s3, bucket, ["n"])
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "n", "VersionId": "null"}]})
    assert [d["Key"] for d in resp["Deleted"]] == ["n"]
    assert object_absent(s3, bucket, "n")


def test_delete_objects_many(s3, bucket):
    keys = [f"many/{i:04d}" for i in range(120)]
    put_keys(s3, bucket, keys)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert len(resp["Deleted"]) == 120
    assert listed(s3, bucket) == []


def test_delete_objects_raw_content_md5(server, s3, bucket):
    keys = ["r1", "r&2", "r 3"]
    put_keys(s3, bucket, keys + ["keep"])
    body = delete_xml(keys)
    resp = raw_signed(
        server,
        "POST",
        bucket,
        params={"delete": ""},
        body=body,
        headers={"Content-MD5": md5_b64(body), "Content-Type": "application/xml"},
    )
    assert resp.status_code == 200, resp.text
    root = parse_xml(resp.content)
    assert root.tag == "DeleteResult"
    assert sorted(d.findtext("Key") for d in root.findall("Deleted")) == sorted(keys)
    assert root.find("Error") is None
    assert listed(s3, bucket) == ["keep"]


def test_delete_objects_raw_quiet(server, s3, bucket):
    put_keys(s3, bucket, ["x", "y"])
    body = delete_xml(["x", "y"], quiet=True)
    resp = raw_signed(
        server,
        "POST",
        bucket,
        params={"delete": ""},
        body=body,
        headers={"Content-MD5": md5_b64(body)},
    )
    assert resp.status_code == 200, resp.text
    root = parse_xml(resp.content)
    assert root.findall("Deleted") == []
    assert listed(s3, bucket) == []


def test_delete_objects_raw_wrong_content_md5(server, s3, bucket):
    put_keys(s3, bucket, ["w1", "w2"])
    body = delete_xml(["w1", "w2"])
    resp = raw_signed(
        server,
        "POST",
        bucket,
        params={"delete": ""},
        body=body,
        headers={"Content-MD5": md5_b64(b"something else")},
    )
    assert resp.status_code == 400, resp.text
    assert parse_xml(resp.content).findtext("Code") == "BadDigest"
    assert listed(s3, bucket) == ["w1", "w2"]


def test_delete_objects_malformed_xml(server, s3, bucket):
    put_keys(s3, bucket, ["m1", "m2"])
    for body in (
        b"<Delete><Object><Key>m1</Key></Object>",  # unclosed
        b"this is not xml",
        b"<Delete><Object><Key>m1</Key></Object></Delete><extra/>",
    ):
        resp = raw_signed(
            server,
            "POST",
            bucket,
            params={"delete": ""},
            body=body,
            headers={"Content-MD5": md5_b64(body)},
        )
        assert resp.status_code == 400, (body, resp.text)
        assert parse_xml(resp.content).findtext("Code") == "MalformedXML", (body, resp.text)
    assert listed(s3, bucket) == ["m1", "m2"]
    assert get_bytes(s3, bucket, "m1") == b"m1"


def test_delete_objects_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.delete_objects(
            Bucket="no-such-bucket-for-multi-delete", Delete={"Objects": [{"Key": "a"}]}
        )


def test_delete_objects_blank_and_special_keys(s3, bucket):
    """Keys of blanks (" ", "_ _") are kept exactly as the XML has them, not stripped."""
    keys = [" ", "_ ", "_ _", "&", "<", '"', "'"]
    put_keys(s3, bucket, keys)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys)
    assert "Errors" not in resp
    assert listed(s3, bucket) == []
