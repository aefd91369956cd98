"""Durability: clean restarts, kill -9 mid-upload, acknowledged writes survive a crash."""

from __future__ import annotations

import hashlib
import os
import threading

import httpx

from tests.conftest import make_client
from tests.integration.helpers import get_bytes, object_absent, quoted_etag

MiB = 1024 * 1024


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def assert_objects(s3, bucket: str, objects: dict[str, bytes]) -> None:
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert sorted(listed) == sorted(objects)
    for key, body in objects.items():
        data = get_bytes(s3, bucket, key)
        assert len(data) == len(body), key
        assert digest(data) == digest(body), key
        assert listed[key]["ETag"] == quoted_etag(body)
        assert listed[key]["Size"] == len(body)


def test_data_survives_clean_restart(private_server):
    private_server.start()
    s3 = make_client(private_server)
    s3.create_bucket(Bucket="durable")
    s3.create_bucket(Bucket="empty-one")
    objects = {
        "zero": b"",
        "small": b"hello",
        "block": os.urandom(4 * MiB),
        "big": os.urandom(9 * MiB + 123),
        "ü/日本/€": os.urandom(1000),
    }
    for key, body in objects.items():
        s3.put_object(Bucket="durable", Key=key, Body=body)
    s3.put_object(
        Bucket="durable",
        Key="meta",
        Body=b"m",
        ContentType="text/x-durable",
        Metadata={"kept": "yes"},
    )
    objects["meta"] = b"m"
    s3.put_object(Bucket="durable", Key="deleted", Body=b"gone soon")
    s3.delete_object(Bucket="durable", Key="deleted")
    before = s3.head_object(Bucket="durable", Key="big")

    assert private_server.stop() == 0  # SIGINT, like Ctrl-C: a clean exit
    private_server.start()
    s3 = make_client(private_server)

    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["durable", "empty-one"]
    assert_objects(s3, "durable", objects)
    head = s3.head_object(Bucket="durable", Key="meta")
    assert head["ContentType"] == "text/x-durable"
    assert head["Metadata"] == {"kept": "yes"}
    after = s3.head_object(Bucket="durable", Key="big")
    assert after["LastModified"] == before["LastModified"]
    assert after["ETag"] == before["ETag"]
    assert object_absent(s3, "durable", "deleted")
    # And the server still accepts writes.
    s3.put_object(Bucket="empty-one", Key="new", Body=b"after restart")
    assert get_bytes(s3, "empty-one", "new") == b"after restart"


def test_kill9_during_large_upload(private_server):
    private_server.start()
    s3 = make_client(private_server)
    s3.create_bucket(Bucket="crash")
    earlier = {
        "before-1": os.urandom(1000),
        "before-2": os.urandom(5 * MiB),
        "victim": b"previous version of the key being overwritten",
    }
    for key, body in earlier.items():
        s3.put_object(Bucket="crash", Key=key, Body=body)

    s3v4 = make_client(private_server, signature_version="s3v4")
    urls = {
        key: s3v4.generate_presigned_url(
            "put_object", Params={"Bucket": "crash", "Key": key}, ExpiresIn=600
        )
        for key in ("huge", "victim")
    }
    total = 200 * MiB
    chunk = os.urandom(MiB)

    sent: dict[str, int] = {}

    def upload(url: str, halfway: threading.Event, outcome: list[object]) -> None:
        def body():
            for i in range(total // MiB):
                sent[url] = i * MiB
                if i == 40:
                    halfway.set()
                yield chunk

        try:
            resp = httpx.put(
                url,
                content=body(),
                headers={"Content-Length": str(total)},
                timeout=60,
            )
            outcome.append(resp.status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)
        finally:
            halfway.set()

    threads = []
    outcomes: dict[str, list[object]] = {}
    events = []
    for key, url in urls.items():
        ev = threading.Event()
        outcomes[key] = []
        t = threading.Thread(target=upload, args=(url, ev, outcomes[key]), daemon=True)
        t.start()
        threads.append(t)
        events.append(ev)
    for ev in events:
        assert ev.wait(60), "upload never got going"
    # Both uploads are well under way (40 MiB handed to the socket), far from complete.
    assert all(sent.get(url, 0) >= 40 * MiB for url in urls.values()), sent
    assert all(not outcome for outcome in outcomes.values()), outcomes
    private_server.kill9()
    for t in threads:
        t.join(30)
    for key, outcome in outcomes.items():
        assert outcome and not isinstance(outcome[0], int), (key, outcome)

    private_server.start()
    s3 = make_client(private_server)
    assert object_absent(s3, "crash", "huge")
    # The interrupted overwrite left the previous version in place.
    assert_objects(s3, "crash", earlier)
    # The key can be written normally after the crash.
    s3.put_object(Bucket="crash", Key="huge", Body=b"small this time")
    assert get_bytes(s3, "crash", "huge") == b"small this time"


def test_acknowledged_writes_survive_kill9(private_server):
    private_server.start()
    s3 = make_client(private_server)
    s3.create_bucket(Bucket="acked")
    s3.create_bucket(Bucket="acked-2")
    s3.create_bucket(Bucket="short-lived")
    s3.delete_bucket(Bucket="short-lived")
    objects: dict[str, bytes] = {}
    for i in range(40):
        size = [0, 1, 4096, 100_000, 4 * MiB + 1][i % 5]
        body = os.urandom(size)
        s3.put_object(Bucket="acked", Key=f"obj/{i:03d}", Body=body)
        objects[f"obj/{i:03d}"] = body
    # Overwrites and deletes are acknowledged writes too.
    objects["obj/000"] = b"overwritten"
    s3.put_object(Bucket="acked", Key="obj/000", Body=b"overwritten")
    for i in (1, 2, 3):
        s3.delete_object(Bucket="acked", Key=f"obj/{i:03d}")
        del objects[f"obj/{i:03d}"]
    s3.delete_objects(Bucket="acked", Delete={"Objects": [{"Key": "obj/004"}, {"Key": "obj/005"}]})
    del objects["obj/004"], objects["obj/005"]
    s3.copy_object(Bucket="acked-2", Key="copied", CopySource={"Bucket": "acked", "Key": "obj/009"})
    last = os.urandom(3 * MiB)
    s3.put_object(Bucket="acked", Key="last", Body=last)
    objects["last"] = last

    private_server.kill9()
    private_server.start()
    s3 = make_client(private_server)

    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["acked", "acked-2"]
    assert_objects(s3, "acked", objects)
    assert get_bytes(s3, "acked-2", "copied") == objects["obj/009"]
