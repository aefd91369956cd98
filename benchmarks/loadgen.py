"""The load generator process: runs one measured command at a time, JSON lines in and out.

It runs apart from the orchestrator (`python -m benchmarks.loadgen --seed N`) so that the
orchestrator's bookkeeping never steals the event loop, and it measures the server's CPU and
peak RSS itself, right around the measured window (connections are opened before the clock
starts; preloading happens in separate, unmeasured commands).

Commands (one JSON object per line on stdin, one result per line on stdout):
  {"op": "bucket", ...}   create a bucket (200 or "already owned" both fine)
  {"op": "put" | "get" | "list" | "mixed", ...}   see the functions below
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks import procstat
from benchmarks.client import Response, S3Session
from benchmarks.content import Content, StreamVerifier
from benchmarks.sigv4 import Signer

MAX_COMMAND_SECONDS = 900.0  # hard bound on any command, also count-bounded ones
SMALL_MAX = 1 << 20  # bodies up to this size are kept whole for verification


@dataclass
class Tally:
    """What the workers of one command did; latencies in seconds."""

    ops: int = 0
    bytes: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    verified: int = 0
    verify_failures: int = 0
    latencies: list[float] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])

    def check(self, ok: bool, what: str) -> None:
        self.verified += 1
        if not ok:
            self.verify_failures += 1
            self.error(f"verify: {what}")


class Loadgen:
    def __init__(self, content: Content) -> None:
        self.content = content

    def _sessions(self, cmd: dict[str, Any], n: int) -> list[S3Session]:
        signer = Signer(cmd["access_key"], cmd["secret_key"], cmd.get("region", "us-east-1"))
        return [S3Session("127.0.0.1", int(cmd["port"]), signer) for _ in range(n)]

    async def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "bucket":
            s = self._sessions(cmd, 1)[0]
            r = await s.request("PUT", f"/{cmd['bucket']}")
            s.close()
            ok = r.status == 200 or b"AlreadyOwned" in r.body
            return {"ok": ok, "status": r.status}
        makers: dict[str, Callable[[dict[str, Any], Tally], Callable[..., Awaitable[None]]]] = {
            "put": self._put,
            "get": self._get,
            "list": self._list,
            "mixed": self._mixed,
        }
        tally = Tally()
        one_op = makers[op](cmd, tally)
        return await self._measure(cmd, tally, one_op)

    async def _measure(
        self, cmd: dict[str, Any], tally: Tally, one_op: Callable[..., Awaitable[None]]
    ) -> dict[str, Any]:
        """Open the connections, then run `concurrency` workers until the duration or count."""
        n = int(cmd["concurrency"])
        sessions = self._sessions(cmd, n)
        await asyncio.gather(*(s.connect() for s in sessions))
        duration = float(cmd.get("duration") or MAX_COMMAND_SECONDS)
        count = cmd.get("count")
        started = itertools.count()
        pids: list[int] = cmd.get("pids", [])
        cpu0 = sum(procstat.cpu_seconds(p) for p in pids)
        for p in pids:
            procstat.reset_peak_rss(p)
        client0 = time.process_time()
        t0 = time.perf_counter()
        deadline = t0 + min(duration, MAX_COMMAND_SECONDS)

        async def worker(w: int, session: S3Session) -> None:
            while time.perf_counter() < deadline:
                i = next(started)
                if count is not None and i >= count:
                    return
                t = time.perf_counter()
                try:
                    await one_op(session, w, i)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    tally.error(f"{type(exc).__name__}: {exc}")
                    continue
                tally.latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker(w, s) for w, s in enumerate(sessions)))
        seconds = time.perf_counter() - t0
        cpu = sum(procstat.cpu_seconds(p) for p in pids) - cpu0
        client_cpu = time.process_time() - client0
        rss = [procstat.peak_rss_mib(p) for p in pids]
        split = [procstat.rss_split_mib(p) for p in pids]
        for s in sessions:
            s.close()
        lat = sorted(tally.latencies)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

        return {
            "ok": tally.errors == 0,
            "ops": tally.ops,
            "bytes": tally.bytes,
            "seconds": seconds,
            "ops_per_s": tally.ops / seconds,
            "mb_per_s": tally.bytes / seconds / 1e6,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": tally.errors,
            "error_samples": tally.error_samples,
            "verified": tally.verified,
            "verify_failures": tally.verify_failures,
            "server_cpu_s": cpu,
            "client_cpu_s": client_cpu,
            "server_rss_mib": sum(r[0] for r in rss),
            "server_rss_max_proc_mib": max((r[1] for r in rss), default=0.0),
            "server_procs": sum(r[2] for r in rss),
            "server_rss_anon_end_mib": sum(a for a, _ in split),
            "server_rss_file_end_mib": sum(f for _, f in split),
        }

    # --- operations: each returns the coroutine that does one request of the command ---

    def _put_one(self, cmd: dict[str, Any], tally: Tally) -> Callable[..., Awaitable[None]]:
        """PUT object number i under prefix; checks the ETag of every verify_every-th one."""
        bucket, prefix, size = cmd["bucket"], cmd["prefix"], int(cmd["size"])
        nonce = bytes.fromhex(cmd["nonce"])
        every = int(cmd.get("verify_every", 8))
        # Large bodies: hashing 64 MiB costs the client ~0.5 s, so the expected MD5 of the
        # sampled objects is computed before the clock starts.
        pre = {i: self.content.md5(nonce, i, size) for i in cmd.get("verify_objects", [])}

        async def put(session: S3Session, i: int) -> None:
            if size <= SMALL_MAX:
                body = self.content.body(nonce, i, size)
                r = await session.request("PUT", f"/{bucket}/{prefix}/{i}", body=body)
                expect = hashlib.md5(body).hexdigest() if i % every == 0 else pre.get(i)
            else:
                chunks = self.content.chunks(nonce, i, size)
                r = await session.request(
                    "PUT", f"/{bucket}/{prefix}/{i}", chunks=chunks, length=size
                )
                expect = pre.get(i)
            if r.status != 200:
                tally.error(f"PUT {prefix}/{i}: {r.status} {r.body[:200]!r}")
                return
            if expect is not None:
                etag = r.headers.get(b"etag", b"").strip(b'"').decode()
                tally.check(etag == expect, f"PUT {prefix}/{i} ETag {etag} != {expect}")
            tally.ops += 1
            tally.bytes += size

        return put

    def _put(self, cmd: dict[str, Any], tally: Tally) -> Callable[..., Awaitable[None]]:
        put = self._put_one(cmd, tally)

        async def op(session: S3Session, w: int, i: int) -> None:
            await put(session, i)

        return op

    def _get_one(self, cmd: dict[str, Any], tally: Tally) -> Callable[..., Awaitable[None]]:
        """GET object number i of a preloaded set; compares every verify_every-th byte-for-byte."""
        bucket, prefix, size = cmd["bucket"], cmd["prefix"], int(cmd["size"])
        nonce = bytes.fromhex(cmd["nonce"])
        every = int(cmd.get("verify_every", 8))

        async def get(session: S3Session, i: int, seq: int) -> None:
            path = f"/{bucket}/{prefix}/{i}"
            verify = seq % every == 0
            if verify and size <= SMALL_MAX:
                r = await session.request("GET", path, keep_body=True)
                if r.status == 200:
                    tally.check(r.body == self.content.body(nonce, i, size), f"GET {path} body")
            elif verify:
                checker = StreamVerifier(self.content.chunks(nonce, i, size))
                r = await session.request("GET", path, sink=checker.feed)
                if r.status == 200:
                    tally.check(checker.finish(), f"GET {path} body")
            else:
                r = await session.request("GET", path)
            if r.status != 200 or r.length != size:
                tally.error(f"GET {path}: {r.status}, {r.length} bytes")
                return
            tally.ops += 1
            tally.bytes += size

        return get

    def _get(self, cmd: dict[str, Any], tally: Tally) -> Callable[..., Awaitable[None]]:
        get = self._get_one(cmd, tally)
        objects = int(cmd["objects"])
        rng = random.Random(cmd.get("rng_seed", 1))

        async def op(session: S3Session, w: int, i: int) -> None:
            await get(session, rng.randrange(objects), i)

        return op

    def _list(self, cmd: dict[str, Any], tally: Tally) -> Callable[..., Awaitable[None]]:
        """Each op is one ListObjectsV2 page; each worker pages through the whole bucket over
        and over, and every complete pass must have seen exactly the expected keys."""
        bucket, expected = cmd["bucket"], int(cmd["expected_keys"])
        page = str(cmd.get("page_size", 1000))
        passes: dict[int, tuple[str | None, int]] = {}  # worker -> (continuation token, keys)

        async def op(session: S3Session, w: int, i: int) -> None:
            token, seen = passes.get(w, (None, 0))
            q = {"list-type": "2", "max-keys": page}
            if token:
                q["continuation-token"] = token
            r: Response = await session.request("GET", f"/{bucket}", query=q, keep_body=True)
            if r.status != 200:
                tally.error(f"LIST {bucket}: {r.status} {r.body[:200]!r}")
                passes.pop(w, None)
                return
            tally.ops += 1
            tally.bytes += len(r.body)
            seen += r.body.count(b"<Key>")
            token = _xml_value(r.body, b"NextContinuationToken")
            if _xml_value(r.body, b"IsTruncated") == "true" and token and seen < expected:
                passes[w] = (token, seen)
            else:
                tally.check(seen == expected, f"LIST pass saw {seen} keys, expected {expected}")
                passes.pop(w, None)

        return op

    def _mixed(self, cmd: dict[str, Any], tally: Tally) -> Callable[..., Awaitable[None]]:
        """GET a random preloaded object with probability get_ratio, else PUT a new one."""
        get = self._get_one({**cmd, "prefix": cmd["get_prefix"], "nonce": cmd["get_nonce"]}, tally)
        put = self._put_one({**cmd, "prefix": cmd["put_prefix"], "nonce": cmd["put_nonce"]}, tally)
        objects, ratio = int(cmd["objects"]), float(cmd.get("get_ratio", 0.7))
        rng = random.Random(cmd.get("rng_seed", 1))
        puts = itertools.count()

        async def op(session: S3Session, w: int, i: int) -> None:
            if rng.random() < ratio:
                await get(session, rng.randrange(objects), i)
            else:
                await put(session, next(puts))

        return op


def _xml_value(body: bytes, tag: bytes) -> str | None:
    start = body.find(b"<" + tag + b">")
    if start < 0:
        return None
    start += len(tag) + 2
    end = body.find(b"</" + tag + b">", start)
    return body[start:end].decode() if end >= 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True, help="content pool seed")
    args = parser.parse_args()
    try:
        import uvloop

        new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        new_loop = asyncio.new_event_loop
    gen = Loadgen(Content(args.seed))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        loop = new_loop()
        try:
            result = loop.run_until_complete(gen.run(json.loads(line)))
        except Exception as exc:  # reported to the orchestrator, which decides
            result = {"ok": False, "exception": f"{type(exc).__name__}: {exc}"}
        finally:
            loop.close()
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
