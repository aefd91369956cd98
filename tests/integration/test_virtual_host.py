"""Virtual-host style addressing (`http://BUCKET.DOMAIN/KEY`) with `cairn serve --domain`.

There is no DNS for the test domain: boto3 signs each request for BUCKET.s3.example:PORT
as a client would, and a botocore hook sends it to 127.0.0.1 with that Host header, the
way a wildcard DNS record would route it. Path style keeps working on the same server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config

from tests.conftest import make_client
from tests.server import CairnServer

DOMAIN = "s3.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    srv = CairnServer(tmp_path_factory.mktemp("vhost") / "data", extra_args=["--domain", DOMAIN])
    yield srv.start()
    srv.stop()


def _virtual_host_client(server: CairnServer):  # type: ignore[no-untyped-def]
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{DOMAIN}:{server.port}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    seen: list[str] = []

    def to_loopback(request: Any, **_: Any) -> None:
        """Keep the signed Host (BUCKET.s3.example:PORT) and connect to 127.0.0.1."""
        url = urlsplit(request.url)
        seen.append(url.netloc)
        request.headers["Host"] = url.netloc
        request.url = urlunsplit(url._replace(netloc=f"127.0.0.1:{server.port}"))

    client.meta.events.register("before-send.s3", to_loopback)
    client.seen_hosts = seen  # type: ignore[attr-defined]
    return client


def test_put_get_and_list_virtual_host_style(server: CairnServer) -> None:
    s3 = _virtual_host_client(server)
    s3.create_bucket(Bucket="vhost")
    s3.put_object(Bucket="vhost", Key="dir/a.txt", Body=b"virtual")
    s3.put_object(Bucket="vhost", Key="b.txt", Body=b"hosted")
    assert s3.get_object(Bucket="vhost", Key="dir/a.txt")["Body"].read() == b"virtual"
    listed = s3.list_objects_v2(Bucket="vhost")
    assert [o["Key"] for o in listed["Contents"]] == ["b.txt", "dir/a.txt"]
    assert s3.list_objects_v2(Bucket="vhost", Prefix="dir/")["KeyCount"] == 1
    # Every request went out virtual-host style: the bucket in the Host, not the path.
    assert set(s3.seen_hosts) == {f"vhost.{DOMAIN}:{server.port}"}

    # The same objects, path style, on the same server.
    path = make_client(server)
    assert path.get_object(Bucket="vhost", Key="b.txt")["Body"].read() == b"hosted"
    path.put_object(Bucket="vhost", Key="c.txt", Body=b"path")
    assert s3.get_object(Bucket="vhost", Key="c.txt")["Body"].read() == b"path"
    assert "vhost" in [b["Name"] for b in path.list_buckets()["Buckets"]]


def test_without_domain_the_host_is_ignored(tmp_path: Path) -> None:
    """Without --domain, a bucket-like Host changes nothing: the path names the bucket."""
    srv = CairnServer(tmp_path / "data").start()
    try:
        path = make_client(srv)
        path.create_bucket(Bucket="plain")
        path.put_object(Bucket="plain", Key="k", Body=b"x")
        s3 = _virtual_host_client(srv)
        with pytest.raises(Exception) as err:  # noqa: PT011 - any S3 error will do
            s3.get_object(Bucket="plain", Key="k")  # goes out as GET /k
        assert "NoSuchBucket" in str(err.value)
    finally:
        srv.stop()
