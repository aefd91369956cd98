"""boto3's transfer manager (s3transfer) against a real Cairn: multipart upload_file and
ranged, parallel download_file of 200 MiB with the server's peak RSS bounded, multipart
upload_fileobj from non-seekable streams, and ranged GETs checked on the wire."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from tests.clients.clients_util import (
    MemorySampler,
    MiB,
    ServerLog,
    md5_bytes,
    md5_file,
    multipart_etag,
    multipart_etag_file,
    peak_rss_bytes,
    random_bytes,
    write_random_file,
)
from tests.conftest import make_client
from tests.server import CairnServer

PART = 8 * MiB
CONFIG = TransferConfig(
    multipart_threshold=PART,
    multipart_chunksize=PART,
    max_concurrency=10,
)
RSS_LIMIT = 300 * MiB


class GetObjectRecorder:
    """Records the Range of each GetObject call and the status the server answered."""

    def __init__(self, client) -> None:
        self.ranges: list[str | None] = []
        self.statuses: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("provide-client-params.s3.GetObject", self._params)
        events.register("before-call.s3.GetObject", self._before)
        events.register("after-call.s3.GetObject", self._after)

    def _params(self, params, **_kw) -> None:
        with self._lock:
            self.ranges.append(params.get("Range"))

    def _before(self, **_kw) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _after(self, http_response, **_kw) -> None:
        with self._lock:
            self.in_flight -= 1
            self.statuses.append(http_response.status_code)


def parse_ranges(ranges: list[str | None], size: int) -> list[tuple[int, int]]:
    """The (first, last) byte pairs of 'bytes=a-b' ranges, sorted, checked to tile [0, size)."""
    spans = []
    for r in ranges:
        assert r is not None and r.startswith("bytes="), r
        first, last = r[len("bytes=") :].split("-")
        # s3transfer asks for the last part open-ended ("bytes=N-").
        spans.append((int(first), min(int(last), size - 1) if last else size - 1))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == size - 1, spans
    for (_, a_last), (b_first, _) in zip(spans, spans[1:], strict=False):
        assert b_first == a_last + 1, spans
    return spans


def test_upload_download_200mib_bounded_rss(private_server: CairnServer, tmp_path: Path) -> None:
    srv = private_server.start()
    s3 = make_client(srv, max_pool_connections=20)
    log = ServerLog(srv)
    size = 200 * MiB
    src = tmp_path / "big.bin"
    md5 = write_random_file(src, size, seed=200)
    s3.create_bucket(Bucket="transfer")

    with MemorySampler(srv.proc.pid) as mem:
        s3.upload_file(str(src), "transfer", "big/200mib.bin", Config=CONFIG)
        head = s3.head_object(Bucket="transfer", Key="big/200mib.bin")
        assert head["ContentLength"] == size
        assert head["ETag"] == f'"{multipart_etag_file(src, PART)}"'  # 25 parts
        after_upload = mem.report()

        recorder = GetObjectRecorder(s3)
        dst = tmp_path / "down.bin"
        s3.download_file("transfer", "big/200mib.bin", str(dst), Config=CONFIG)
        assert md5_file(dst) == md5
    after_download = mem.report()
    peak = peak_rss_bytes(srv.proc.pid)
    print(f"\nserver memory after upload: {after_upload}\nafter download: {after_download}")

    # The download was ranged and parallel: 25 parts of 8 MiB, every answer a 206.
    spans = parse_ranges(recorder.ranges, size)
    assert len(spans) == size // PART
    assert set(recorder.statuses) == {206}, recorder.statuses
    assert recorder.max_in_flight > 1
    assert s3.list_multipart_uploads(Bucket="transfer").get("Uploads", []) == []
    log.assert_clean()

    # What the server allocated itself stays bounded (sampled, so a lower bound of the peak).
    assert mem.peak["RssAnon"] < RSS_LIMIT, f"after upload: {after_upload}; after: {after_download}"
    # VmHWM, the kernel's exact peak, also counts the LMDB pages the download mapped in
    # (RssFile): see MemorySampler.
    assert peak < RSS_LIMIT, (
        f"server peak RSS (VmHWM) {peak / MiB:.0f} MiB >= {RSS_LIMIT / MiB:.0f} MiB; "
        f"after upload: {after_upload}; after download: {after_download}"
    )


class NonSeekableStream(io.RawIOBase):
    """`size` deterministic bytes, read once, front to back; seek and tell are unsupported."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:
        n = min(len(b), len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.fixture
def pipe_stream() -> Iterator[Callable[[bytes], io.BufferedReader]]:
    """Make a pipe's read end that a thread feeds `data` into (then closes)."""
    threads: list[threading.Thread] = []
    readers: list[io.BufferedReader] = []

    def make(data: bytes) -> io.BufferedReader:
        r, w = os.pipe()

        def feed() -> None:
            with os.fdopen(w, "wb") as f:
                view = memoryview(data)
                for i in range(0, len(data), 64 * 1024):
                    f.write(view[i : i + 64 * 1024])

        t = threading.Thread(target=feed, daemon=True)
        t.start()
        threads.append(t)
        reader = os.fdopen(r, "rb")
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()  # a writer still blocked on a full pipe then fails and exits
    for t in threads:
        t.join(timeout=10)


@pytest.mark.parametrize("kind", ["raw-io", "pipe"])
def test_upload_fileobj_non_seekable(
    kind: str, s3, bucket: str, server: CairnServer, pipe_stream
) -> None:
    log = ServerLog(server)
    data = random_bytes(30 * MiB + 4321, seed=30)
    stream = NonSeekableStream(data) if kind == "raw-io" else pipe_stream(data)
    assert not stream.seekable()
    with pytest.raises((io.UnsupportedOperation, OSError)):
        stream.seek(0)

    s3.upload_fileobj(stream, bucket, "stream/30mib.bin", Config=CONFIG)
    head = s3.head_object(Bucket=bucket, Key="stream/30mib.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{multipart_etag(data, PART)}"'  # 4 parts: 3 x 8 MiB + the rest
    body = s3.get_object(Bucket=bucket, Key="stream/30mib.bin")["Body"].read()
    assert md5_bytes(body) == md5_bytes(data)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    log.assert_clean()


def test_ranged_parallel_download(s3, bucket: str, server: CairnServer, tmp_path: Path) -> None:
    """download_file splits an object above multipart_threshold into ranged GETs run in
    parallel; the object here is a single PUT, so the ranges don't line up with parts."""
    log = ServerLog(server)
    data = random_bytes(37 * MiB + 17, seed=37)
    s3.put_object(Bucket=bucket, Key="ranged.bin", Body=data)

    recorder = GetObjectRecorder(s3)
    dst = tmp_path / "ranged.bin"
    s3.download_file(bucket, "ranged.bin", str(dst), Config=CONFIG)
    assert md5_file(dst) == md5_bytes(data)
    spans = parse_ranges(recorder.ranges, len(data))
    assert len(spans) == 5  # 4 x 8 MiB + 5 MiB and 17 bytes
    assert set(recorder.statuses) == {206}, recorder.statuses
    assert recorder.max_in_flight > 1, "the ranged GETs did not overlap"

    # download_fileobj into a file object, same path through s3transfer.
    buf = io.BytesIO()
    s3.download_fileobj(bucket, "ranged.bin", buf, Config=CONFIG)
    assert md5_bytes(buf.getvalue()) == md5_bytes(data)

    # Below the threshold: one plain GET, answered 200.
    small = TransferConfig(multipart_threshold=64 * MiB, max_concurrency=10)
    s3b = make_client(server)
    recorder2 = GetObjectRecorder(s3b)
    s3b.download_file(bucket, "ranged.bin", str(dst), Config=small)
    assert md5_file(dst) == md5_bytes(data)
    assert recorder2.ranges == [None] and recorder2.statuses == [200]
    log.assert_clean()
