"""The MinIO Python SDK against a real Cairn over plain HTTP: buckets, put/get (whole and
ranged), listings (v2 and v1, recursive and by prefix), multipart fput_object of 20 MiB in
5 MiB parts, streaming put of unknown length, fget_object, remove_object(s)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.clients.clients_util import (
    MiB,
    ServerLog,
    empty_and_delete,
    md5_bytes,
    md5_file,
    missing,
    multipart_etag,
    new_bucket_name,
    random_bytes,
    write_random_file,
)
from tests.server import CairnServer

PART = 5 * MiB


@pytest.fixture
def mc(server: CairnServer):
    try:
        import minio
    except ImportError:
        missing("the minio SDK is not installed (pip install minio)")
    return minio.Minio(
        f"127.0.0.1:{server.port}",
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        region="us-east-1",
    )


@pytest.fixture
def mbucket(mc, s3):
    name = new_bucket_name("minio")
    mc.make_bucket(name)
    yield name
    empty_and_delete(s3, name)


@pytest.fixture
def log(server: CairnServer) -> ServerLog:
    return ServerLog(server)


def read_object(mc, bucket: str, key: str, **kw) -> bytes:
    resp = mc.get_object(bucket, key, **kw)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


def test_buckets(mc, s3, log: ServerLog) -> None:
    name = new_bucket_name("minio")
    assert not mc.bucket_exists(name)
    mc.make_bucket(name)
    try:
        assert mc.bucket_exists(name)
        assert name in [b.name for b in mc.list_buckets()]
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        mc.remove_bucket(name)
        assert not mc.bucket_exists(name)
    finally:
        empty_and_delete(s3, name)
    log.assert_clean()


def test_put_get_list_remove(mc, s3, mbucket: str, log: ServerLog) -> None:
    objects = {
        "a.txt": b"hello minio\n",
        "empty": b"",
        "dir/b.bin": random_bytes(300_000, 1),
        "dir/sub/c.bin": random_bytes(1 * MiB + 1, 2),
        "dir/sub/d e.txt": b"space in the name",
        "ünï/ファイル.txt": "unicode ☃".encode(),
        "other/x": b"x",
    }
    for key, body in objects.items():
        res = mc.put_object(
            mbucket, key, io.BytesIO(body), len(body), metadata={"x-amz-meta-origin": "minio"}
        )
        assert res.etag == md5_bytes(body), key
    for key, body in objects.items():
        got = read_object(mc, mbucket, key)
        assert md5_bytes(got) == md5_bytes(body), key
        st = mc.stat_object(mbucket, key)
        assert st.size == len(body) and st.etag == md5_bytes(body), key
        assert st.metadata.get("x-amz-meta-origin") == "minio", st.metadata
    # The same bytes through boto3.
    for key, body in objects.items():
        assert s3.get_object(Bucket=mbucket, Key=key)["Body"].read() == body

    # Ranged reads.
    big = objects["dir/sub/c.bin"]
    assert read_object(mc, mbucket, "dir/sub/c.bin", offset=1000, length=5000) == big[1000:6000]
    assert read_object(mc, mbucket, "dir/sub/c.bin", offset=len(big) - 10) == big[-10:]

    # Listings: recursive, by prefix, one level (with "directories"), and with the v1 API.
    def names(**kw) -> list[str]:
        return [o.object_name for o in mc.list_objects(mbucket, **kw)]

    assert sorted(names(recursive=True)) == sorted(objects)
    assert sorted(names(recursive=True, use_api_v1=True)) == sorted(objects)
    assert sorted(names(prefix="dir/", recursive=True)) == [
        "dir/b.bin",
        "dir/sub/c.bin",
        "dir/sub/d e.txt",
    ]
    assert sorted(names()) == ["a.txt", "dir/", "empty", "other/", "ünï/"]
    assert sorted(names(prefix="dir/")) == ["dir/b.bin", "dir/sub/"]
    assert sorted(names(prefix="ünï/", recursive=True)) == ["ünï/ファイル.txt"]
    listed = {o.object_name: o for o in mc.list_objects(mbucket, recursive=True)}
    for key, body in objects.items():
        assert listed[key].size == len(body), key
        assert listed[key].etag == md5_bytes(body), key

    # remove_object, then remove_objects (multi-delete) for the rest.
    mc.remove_object(mbucket, "a.txt")
    assert "a.txt" not in names(recursive=True)
    from minio.deleteobjects import DeleteObject

    errors = list(mc.remove_objects(mbucket, [DeleteObject(k) for k in names(recursive=True)]))
    assert errors == []
    assert names(recursive=True) == []
    log.assert_clean()


def test_fput_fget_multipart(mc, s3, mbucket: str, tmp_path: Path, log: ServerLog) -> None:
    src = tmp_path / "twenty.bin"
    md5 = write_random_file(src, 20 * MiB, seed=20)
    res = mc.fput_object(mbucket, "big/twenty.bin", str(src), part_size=PART)
    data = src.read_bytes()
    want_etag = multipart_etag(data, PART)  # 4 parts of 5 MiB
    assert res.etag == want_etag
    st = mc.stat_object(mbucket, "big/twenty.bin")
    assert st.size == 20 * MiB and st.etag == want_etag

    dst = tmp_path / "down" / "twenty.bin"
    mc.fget_object(mbucket, "big/twenty.bin", str(dst))
    assert md5_file(dst) == md5
    # Ranged GETs across part boundaries of the multipart object.
    for off, n in [(PART - 10, 20), (3 * PART - 1, PART + 2), (0, 1), (20 * MiB - 7, 7)]:
        assert (
            read_object(mc, mbucket, "big/twenty.bin", offset=off, length=n) == data[off : off + n]
        )
    assert md5_bytes(s3.get_object(Bucket=mbucket, Key="big/twenty.bin")["Body"].read()) == md5

    # No unfinished upload is left behind.
    assert s3.list_multipart_uploads(Bucket=mbucket).get("Uploads", []) == []
    mc.remove_object(mbucket, "big/twenty.bin")
    assert [o.object_name for o in mc.list_objects(mbucket, recursive=True)] == []
    log.assert_clean()


def test_put_stream_of_unknown_length(mc, s3, mbucket: str, log: ServerLog) -> None:
    """length=-1: minio reads part_size pieces from the stream and uploads them as parts."""
    data = random_bytes(12 * MiB + 123, 7)
    res = mc.put_object(mbucket, "stream.bin", io.BytesIO(data), -1, part_size=PART)
    assert res.etag == multipart_etag(data, PART)
    assert md5_bytes(read_object(mc, mbucket, "stream.bin")) == md5_bytes(data)
    assert s3.head_object(Bucket=mbucket, Key="stream.bin")["ContentLength"] == len(data)
    log.assert_clean()
