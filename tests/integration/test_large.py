"""Large objects: memory stays bounded however big the object, bytes come back identical.

The 5 GiB single PUT and the 20 GiB multipart object are marked `large` (outside the
default suite: `pytest -m large`); a 1 GiB multipart round trip runs by default. Every test
uses a private server and bounds its peak anonymous RSS (see RssMonitor: VmHWM also
counts the LMDB data file's mmap'd pages, so it is reported, not asserted).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import struct
import threading
import time
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from tests.conftest import make_client

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = 64 * MiB
RSS_LIMIT = 300 * MiB
STAMP_EVERY = 64 * 1024


# --------------------------------------------------------------------------- helpers


def write_random_file(path: Path, size: int) -> str:
    """Write `size` bytes of incompressible data in 64 MiB chunks; return their MD5 hex.

    os.urandom is ~60 MB/s here, too slow for 20 GiB, so one random 64 MiB base chunk is
    reused with a (chunk, offset) counter stamped every 64 KiB: every block the server
    makes (4 MiB, content-addressed) is distinct, so nothing deduplicates. Nothing is
    sparse: every byte is written."""
    base = os.urandom(CHUNK)
    md5 = hashlib.md5()
    written = 0
    with open(path, "wb") as f:
        i = 0
        while written < size:
            n = min(CHUNK, size - written)
            buf = bytearray(base[:n])
            for off in range(0, n - 16 + 1, STAMP_EVERY):
                struct.pack_into(">QQ", buf, off, i, off)
            f.write(buf)
            md5.update(buf)
            written += n
            i += 1
    return md5.hexdigest()


def tree_pids(pid: int) -> list[int]:
    """pid and its descendants (the server is one process today; stay right if it forks)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


class RssMonitor:
    """Samples the server's anonymous RSS every 20 ms; reports it beside VmHWM.

    VmHWM counts file-backed pages too, and the block store is LMDB read through mmap:
    streaming a 1 GiB object back maps ~1 GiB of the data file into the process
    (RssFile), clean page cache the kernel reclaims at will, not memory the server
    holds. The bound that matters is the anonymous part (heap, buffers), RssAnon."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _status(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in tree_pids(self.pid):
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        key, _, rest = line.partition(":")
                        if key in ("RssAnon", "RssFile", "VmHWM"):
                            out[key] = out.get(key, 0) + int(rest.split()[0]) * 1024
            except OSError:
                pass
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_anon = max(self.peak_anon, self._status().get("RssAnon", 0))
            self._stop.wait(0.02)

    def __enter__(self) -> RssMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_anon = max(self.peak_anon, self._status().get("RssAnon", 0))

    def figures(self) -> dict[str, str]:
        st = self._status()
        return {
            "peak_anon_rss": f"{self.peak_anon / MiB:.0f} MiB",
            "VmHWM": f"{st.get('VmHWM', 0) / MiB:.0f} MiB",
            "RssFile_now": f"{st.get('RssFile', 0) / MiB:.0f} MiB",
        }


def stream_md5(s3, bucket: str, key: str, **kw) -> tuple[str, int]:
    body = s3.get_object(Bucket=bucket, Key=key, **kw)["Body"]
    md5 = hashlib.md5()
    n = 0
    for piece in body.iter_chunks(chunk_size=8 * MiB):
        md5.update(piece)
        n += len(piece)
    return md5.hexdigest(), n


def multipart_etag_of_file(path: Path, part_size: int) -> str:
    digests = []
    with open(path, "rb") as f:
        while piece := f.read(part_size):
            digests.append(hashlib.md5(piece).digest())
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def start(private_server):
    private_server.start()
    s3 = make_client(private_server, read_timeout=600, connect_timeout=30)
    s3.create_bucket(Bucket="large")
    return s3


def report(label: str, **figures: object) -> None:
    parts = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[{label}] {parts}")


def rate(size: int, seconds: float) -> str:
    return f"{size / MiB / seconds:.0f} MiB/s"


def multipart_round_trip(private_server, tmp_path: Path, size: int, label: str):
    s3 = start(private_server)
    path = tmp_path / "src.bin"
    t0 = time.monotonic()
    md5 = write_random_file(path, size)
    t_gen = time.monotonic() - t0
    with RssMonitor(private_server.proc.pid) as mon:
        try:
            cfg = TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK)
            t0 = time.monotonic()
            s3.upload_file(str(path), "large", "obj", Config=cfg)
            t_up = time.monotonic() - t0
            expected_etag = multipart_etag_of_file(path, CHUNK)
        finally:
            path.unlink()
        anon_upload = mon.peak_anon

        head = s3.head_object(Bucket="large", Key="obj")
        assert head["ContentLength"] == size
        assert head["ETag"] == expected_etag
        assert head["ETag"].endswith(f'-{-(-size // CHUNK)}"')

        t0 = time.monotonic()
        got_md5, got_size = stream_md5(s3, "large", "obj")
        t_down = time.monotonic() - t0
        assert got_size == size
        assert got_md5 == md5
    report(
        label,
        generate=f"{t_gen:.1f}s",
        upload=f"{t_up:.1f}s ({rate(size, t_up)})",
        download=f"{t_down:.1f}s ({rate(size, t_down)})",
        peak_anon_rss_upload=f"{anon_upload / MiB:.0f} MiB",
        **mon.figures(),
    )
    assert mon.peak_anon < RSS_LIMIT, f"server peak anonymous RSS {mon.peak_anon / MiB:.0f} MiB"
    return s3


# --------------------------------------------------------------------------- tests


@pytest.mark.timeout(1200)
def test_1gib_multipart_bounded_memory(private_server, tmp_path):
    """Default suite: 1 GiB through upload_file (16 parts of 64 MiB, 10 at a time)."""
    s3 = multipart_round_trip(private_server, tmp_path, 1 * GiB, "1 GiB multipart")
    s3.delete_object(Bucket="large", Key="obj")


@pytest.mark.large
@pytest.mark.timeout(3600)
def test_5gib_single_put(private_server, tmp_path):
    """The largest single PUT S3 allows, streamed from an open file."""
    size = 5 * GiB
    s3 = start(private_server)
    path = tmp_path / "src.bin"
    t0 = time.monotonic()
    md5 = write_random_file(path, size)
    t_gen = time.monotonic() - t0
    with RssMonitor(private_server.proc.pid) as mon:
        try:
            t0 = time.monotonic()
            with open(path, "rb") as f:
                resp = s3.put_object(Bucket="large", Key="obj", Body=f)
            t_up = time.monotonic() - t0
        finally:
            path.unlink()
        assert resp["ETag"] == f'"{md5}"'
        anon_upload = mon.peak_anon
        assert s3.head_object(Bucket="large", Key="obj")["ContentLength"] == size
        t0 = time.monotonic()
        got_md5, got_size = stream_md5(s3, "large", "obj")
        t_down = time.monotonic() - t0
        assert (got_size, got_md5) == (size, md5)
    report(
        "5 GiB single PUT",
        generate=f"{t_gen:.1f}s",
        upload=f"{t_up:.1f}s ({rate(size, t_up)})",
        download=f"{t_down:.1f}s ({rate(size, t_down)})",
        peak_anon_rss_upload=f"{anon_upload / MiB:.0f} MiB",
        **mon.figures(),
    )
    assert mon.peak_anon < RSS_LIMIT, f"server peak anonymous RSS {mon.peak_anon / MiB:.0f} MiB"
    s3.delete_object(Bucket="large", Key="obj")


def ranged_get_seconds(s3, start: int, length: int, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.monotonic()
        body = s3.get_object(Bucket="large", Key="obj", Range=f"bytes={start}-{start + length - 1}")
        data = body["Body"].read()
        times.append(time.monotonic() - t0)
        assert len(data) == length
    return statistics.median(times)


@pytest.mark.large
@pytest.mark.timeout(7200)
def test_20gib_multipart_and_ranged_reads(private_server, tmp_path):
    size = 20 * GiB
    s3 = multipart_round_trip(private_server, tmp_path, size, "20 GiB multipart")
    # A ranged read at the end of the object costs about what one at the start does: no
    # walk over the object from its first byte.
    length = 1 * MiB
    ranged_get_seconds(s3, 0, length, repeat=2)  # warm up the connection
    t_start = ranged_get_seconds(s3, 0, length)
    t_mid = ranged_get_seconds(s3, size // 2, length)
    t_end = ranged_get_seconds(s3, size - length, length)
    report(
        "20 GiB ranged GET (1 MiB, median of 7)",
        start=f"{t_start * 1000:.1f}ms",
        middle=f"{t_mid * 1000:.1f}ms",
        end=f"{t_end * 1000:.1f}ms",
    )
    # 3x, with 10 ms of slack so scheduler noise on millisecond timings cannot decide it.
    assert t_end < 3 * t_start + 0.010, (t_start, t_end)
    s3.delete_object(Bucket="large", Key="obj")
