"""The replicated metadata backend: the KV interface on an etcd v3 cluster.

``EtcdKV.from_spec("etcd://h1:p1,h2:p2[?max_txn_ops=N&max_request_bytes=B&prefix=P]")``
talks gRPC to the members (the generated stubs of ``aetcd.rpc``; aetcd's high-level client
cannot send a range limit, and one client per member is all it offers anyway).

Mapping
    ``get``     one linearizable Range (``serializable=False``): a read returns every commit
                that completed before it started, whichever member answers.
    ``scan``    one Range with ``range_end`` and ``limit``. Ascending scans send
                ``sort_order=NONE``: etcd returns key order anyway, and any explicit sort
                makes the server read the *whole* range before truncating it to the limit.
                Descending scans must sort (``DESCEND``), so they cost time in proportion to
                the range on the server; the record layer does not use them today.
    ``commit``  one etcd Txn. A compare against ``None`` is ``version(key) == 0``, against
                bytes ``value(key) == expected`` (etcd fails a value compare on a missing
                key, so ``b""`` and absent stay different). The success branch is the
                deletes, then the puts, de-duplicated the way LmdbKV applies them: the last
                put of a key wins, and a key both deleted and put is only put (etcd rejects a
                txn that names a key twice). A failed compare raises ``TxnConflict``.

Leases
    ``grant_lease`` is etcd's LeaseGrant (TTL in whole seconds), ``Lease.keepalive`` one
    round on the LeaseKeepAlive stream (TTL 0 in the answer: expired), ``revoke``
    LeaseRevoke; ``Txn.put(..., lease=)`` sets the PutRequest's lease, and a put naming an
    expired lease ("requested lease not found") raises ``LeaseExpired``.

Transaction size
    etcd refuses a txn with more than ``--max-txn-ops`` compares or more than that many
    operations (default 128; it checks each list on its own) and a request larger than
    ``--max-request-bytes`` (default 1.5 MiB). Cairn runs etcd with those defaults, and the
    record layer keeps every transaction within them: a commit carries at most a few dozen
    reference changes and a few block-list pages, and what does not fit is staged before it
    or released after it in bounded batches (meta.journal). ``commit`` first applies the
    interface's rule (``Txn.check_limits``, etcd's defaults), as every backend does, so
    the same txn fails the same way on LMDB. ``EtcdKV`` is also told the server's limits
    (``max_txn_ops``, ``max_request_bytes``; default etcd's, or from the spec's query
    string for a cluster run with others) and refuses a txn over lower ones with a
    ``TxnTooLarge`` naming the numbers, before anything is sent: reaching either is a bug
    in the record layer, which the test suites would show. The server's own refusal
    (configured limits higher than the server's) is mapped to the same message.

Fail-over and retries
    One gRPC channel per member. Every call goes to the current member; on UNAVAILABLE or
    DEADLINE_EXCEEDED (member down, "no leader", "leader changed", request timed out during
    an election) it moves to the next member and tries again, sleeping briefly after each
    round over all members, until ``timeout`` (10 s) has passed since the call began; then it
    raises ``MetaUnavailable``. An etcd election takes 1-2 s with default settings, so
    callers do not see one. Each attempt has its own deadline (``attempt_timeout``, 2 s,
    plus 1 s per 8 MiB of txn or 100,000 keys of scan limit) so a member that hangs costs one
    attempt, not the whole budget. That deadline is also what ends a commit caught by an
    election: a follower forwards a proposal to the leader, and if the leader dies first the
    proposal is silently dropped and the follower waits for the client's deadline (etcd's
    own request timeout is 5 s + 2 election timeouts). So after a leader dies, commits
    resume after the election plus at most ``attempt_timeout`` (measured in
    tests/contract/test_etcd_specific.py); reads resume right after the election.

    A commit that failed with UNAVAILABLE or a timeout may nevertheless have been applied
    (the leader committed it and died before answering). It is retried anyway, because every
    record-layer txn is guarded by compares on the values it read: if the first attempt
    applied, the retry's compares fail and the caller gets ``TxnConflict``, re-reads and
    decides again against the new state (for a PUT: one more version on top of its own,
    with reference counts that stay consistent because each adjustment is guarded by the
    counts it read; for a multipart Complete: the completion marker tells it the upload was
    completed). The retry never applies a change on top of a state it did not compare, so
    it never corrupts; the cost is that a client can be told "conflict" for a write that did
    apply, the same ambiguity a 503 after a timeout gives an S3 client. A txn without
    compares is a blind write; applying it twice leaves the state it would leave once.
    (Reporting success after a conflict because the txn's writes are visible would be wrong:
    a concurrent writer can have written the same bytes, e.g. two increments of a counter.)

TLS: ``?ca=PATH&cert=PATH&key=PATH`` in the spec (or ``tls=EtcdClientTls(...)``) makes every
channel a TLS one that trusts only that CA and shows that client certificate, as etcd run
with ``--client-cert-auth`` requires (meta.etcd_launch, `cairn cluster up --etcd N`). A spec
without them is plain, as before.

Keys are limited to ``max_key_size`` (4,096) bytes: etcd itself takes long keys, and
meta.keys.KeyCodec needs the limit to encode object keys. ``prefix`` (constructor or spec)
puts this store's keys under a prefix of the etcd keyspace, so several stores (or tests)
can share one cluster.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

import grpc
from aetcd import rpc

from meta.api import LeaseExpired, MetaError, MetaUnavailable, Txn, TxnConflict, TxnTooLarge

DEFAULT_MAX_TXN_OPS = 128  # etcd's own defaults
DEFAULT_MAX_REQUEST_BYTES = 1_572_864
DEFAULT_TIMEOUT = 10.0
DEFAULT_ATTEMPT_TIMEOUT = 2.0
DEFAULT_MAX_KEY_SIZE = 4096
# etcd compares the size of the raft entry (the request plus a small header) to
# --max-request-bytes; keep this much room for that header.
REQUEST_OVERHEAD = 1024

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class EtcdClientTls:
    """The CA that signed the members' certificates, and this client's certificate."""

    ca: str
    cert: str | None = None
    key: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_channel_credentials(read(self.ca), read(self.key), read(self.cert))


@dataclass
class _Member:
    target: str
    channel: grpc.aio.Channel | None = None
    kv: Any = None  # rpc.KVStub
    lease: Any = None  # rpc.LeaseStub


class EtcdKV:
    """meta.api.KV on etcd v3 (see the module docstring)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        prefix: bytes = b"",
        max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
        max_key_size: int = DEFAULT_MAX_KEY_SIZE,
        tls: EtcdClientTls | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("etcd: no endpoints")
        self.endpoints = list(endpoints)
        self.prefix = bytes(prefix)
        self.max_txn_ops = max_txn_ops
        self.max_request_bytes = max_request_bytes
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.max_key_size = max_key_size
        self.tls = tls
        self._credentials = tls.credentials() if tls is not None else None
        self._members = [_Member(t) for t in self.endpoints]
        self._current = 0
        self._closed = False

    @classmethod
    def from_spec(cls, spec: str, **overrides: Any) -> EtcdKV:
        """``etcd://host:port[,host:port...][?max_txn_ops=N&max_request_bytes=B&prefix=P
        &timeout=S&attempt_timeout=S&ca=PATH&cert=PATH&key=PATH]``; keyword arguments
        override the query string."""
        parts = urlsplit(spec)
        if parts.scheme != "etcd" or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"bad etcd spec {spec!r}: use etcd://host:port[,host:port...]")
        endpoints = []
        for item in parts.netloc.split(","):
            host, sep, port = item.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"bad etcd endpoint {item!r} in {spec!r}: use host:port")
            endpoints.append(f"{host}:{int(port)}")
        kwargs: dict[str, Any] = {}
        tls: dict[str, str] = {}
        known = {
            "max_txn_ops": int,
            "max_request_bytes": int,
            "max_key_size": int,
            "timeout": float,
            "attempt_timeout": float,
        }
        for name, values in parse_qs(parts.query, keep_blank_values=True).items():
            if name == "prefix":
                kwargs["prefix"] = unquote_to_bytes(values[-1])
            elif name in ("ca", "cert", "key"):
                tls[name] = values[-1]
            elif name in known:
                kwargs[name] = known[name](values[-1])
            else:
                raise ValueError(f"unknown etcd option {name!r} in {spec!r}")
        if tls:
            if "ca" not in tls or ("cert" in tls) != ("key" in tls):
                raise ValueError(f"etcd TLS needs ca=, and cert= with key=, in {spec!r}")
            kwargs["tls"] = EtcdClientTls(tls["ca"], tls.get("cert"), tls.get("key"))
        kwargs.update(overrides)
        return cls(endpoints, **kwargs)

    # ------------------------------------------------------------------ KV interface

    async def get(self, key: bytes) -> bytes | None:
        full = self.prefix + key
        if not full:
            return None  # etcd has no empty key
        resp = await self._call("Range", rpc.RangeRequest(key=full, serializable=False))
        return resp.kvs[0].value if resp.kvs else None

    async def scan(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        if limit <= 0 or start >= end:
            return []
        key, range_end = self.prefix + start, self.prefix + end
        if range_end == b"\x00":
            return []  # only b"" sorts below b"\x00", and etcd ("\0" = no end) has no b""
        req = rpc.RangeRequest(
            key=key or b"\x00",
            range_end=range_end,
            limit=limit,
            sort_order=rpc.RangeRequest.DESCEND if reverse else rpc.RangeRequest.NONE,
            sort_target=rpc.RangeRequest.KEY,
            serializable=False,
        )
        resp = await self._call("Range", req)
        n = len(self.prefix)
        return [(kv.key[n:], kv.value) for kv in resp.kvs]

    async def commit(self, txn: Txn) -> None:
        txn.check_limits()  # the interface's rule first, as on every backend
        req = self.build_txn(txn)
        if req is None:
            return
        try:
            resp = await self._call("Txn", req)
        except MetaError as e:
            if "requested lease not found" in str(e):
                raise LeaseExpired(str(e)) from None
            raise
        if not resp.succeeded:
            raise TxnConflict(self._first_failed(txn))

    async def grant_lease(self, ttl: float) -> EtcdLease:
        resp = await self._call(
            "LeaseGrant", rpc.LeaseGrantRequest(TTL=max(1, round(ttl))), "lease"
        )
        if resp.error:
            raise MetaError(f"etcd: lease grant failed: {resp.error}")
        return EtcdLease(self, resp.ID, ttl)

    async def delete_prefix(self, prefix: bytes = b"") -> int:
        """Delete every key of this store that starts with prefix (all of them by default).
        Not part of the KV interface: for tests and administration. Returns the count."""
        key = self.prefix + prefix
        if key:
            req = rpc.DeleteRangeRequest(key=key, range_end=_prefix_end(key))
        else:
            req = rpc.DeleteRangeRequest(key=b"\x00", range_end=b"\x00")  # the whole keyspace
        resp = await self._call("DeleteRange", req)
        return int(resp.deleted)

    async def close(self) -> None:
        self._closed = True
        members, self._members = self._members, [_Member(t) for t in self.endpoints]
        for m in members:
            if m.channel is not None:
                await m.channel.close()

    # ------------------------------------------------------------------ txn building

    def build_txn(self, txn: Txn) -> rpc.TxnRequest | None:
        """The etcd TxnRequest for txn (None for an empty txn); ValueError if over a limit."""
        puts: dict[bytes, bytes] = {}
        for key, value in txn.puts:
            self._check_key(key)
            puts[key] = value  # the last put of a key wins, as in LmdbKV
        deletes: dict[bytes, None] = {}
        for key in txn.deletes:
            self._check_key(key)
            if key not in puts:  # delete-then-put leaves the put
                deletes[key] = None
        for key, _ in txn.compares:
            self._check_key(key)
        if not txn.compares and not puts and not deletes:
            return None

        p = self.prefix
        compares = [
            rpc.Compare(
                key=p + key,
                result=rpc.Compare.EQUAL,
                target=rpc.Compare.VERSION,
                version=0,
            )
            if expected is None
            else rpc.Compare(
                key=p + key,
                result=rpc.Compare.EQUAL,
                target=rpc.Compare.VALUE,
                value=expected,
            )
            for key, expected in txn.compares
        ]
        ops = [
            rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=p + k)) for k in deletes
        ]
        ops += [
            rpc.RequestOp(
                request_put=rpc.PutRequest(
                    key=p + k, value=v, lease=txn.leases[k].id if k in txn.leases else 0
                )
            )
            for k, v in puts.items()
        ]
        n_ops = max(len(compares), len(ops))
        if n_ops > self.max_txn_ops:
            raise TxnTooLarge(self._too_many_ops(len(compares), len(ops)))
        req = rpc.TxnRequest(compare=compares, success=ops)
        size = req.ByteSize()
        if size + REQUEST_OVERHEAD > self.max_request_bytes:
            raise TxnTooLarge(self._too_large(size))
        return req

    def _check_key(self, key: bytes) -> None:
        if len(key) > self.max_key_size:
            raise ValueError(
                f"etcd: key of {len(key)} bytes exceeds max_key_size={self.max_key_size}"
            )
        if not self.prefix + key:
            raise ValueError("etcd: empty key")

    def _too_many_ops(self, n_compares: int, n_ops: int) -> str:
        return (
            f"metadata transaction too large for etcd: {n_compares} compares and {n_ops} "
            f"operations, the limit is {self.max_txn_ops} of each (max_txn_ops). Start etcd "
            f"with --max-txn-ops {max(n_compares, n_ops, DEFAULT_MAX_TXN_OPS)} or more and pass "
            f"?max_txn_ops=N in the etcd:// spec"
        )

    def _too_large(self, size: int) -> str:
        return (
            f"metadata transaction too large for etcd: {size} bytes, the limit is "
            f"{self.max_request_bytes} bytes (max_request_bytes, less {REQUEST_OVERHEAD} for "
            f"etcd's header). Start etcd with --max-request-bytes "
            f"{max(size + REQUEST_OVERHEAD, DEFAULT_MAX_REQUEST_BYTES)} or more and pass "
            f"?max_request_bytes=N in the etcd:// spec"
        )

    @staticmethod
    def _first_failed(txn: Txn) -> bytes | None:
        # etcd does not say which compare failed; name the first guarded key for logs.
        return txn.compares[0][0] if txn.compares else None

    # ------------------------------------------------------------------ transport

    def _member(self, index: int) -> _Member:
        m = self._members[index]
        if m.channel is None:
            options = [
                ("grpc.max_send_message_length", self.max_request_bytes + (1 << 20)),
                ("grpc.max_receive_message_length", -1),
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ]
            if self._credentials is not None:
                m.channel = grpc.aio.secure_channel(m.target, self._credentials, options=options)
            else:
                m.channel = grpc.aio.insecure_channel(m.target, options=options)
            m.kv = rpc.KVStub(m.channel)
            m.lease = rpc.LeaseStub(m.channel)
        return m

    async def _call(self, method: str, request: Any, service: str = "kv") -> Any:
        """One RPC with fail-over across members, bounded by self.timeout."""
        if self._closed:
            raise MetaError("etcd: store is closed")
        loop_time = time.monotonic
        extra = _extra_time(request)
        deadline = loop_time() + self.timeout + extra
        per_attempt = self.attempt_timeout + extra
        n = len(self._members)
        attempt = 0
        backoff = 0.05
        while True:
            index = self._current
            remaining = deadline - loop_time()
            try:
                stub = getattr(self._member(index), service)
                timeout = max(0.05, min(per_attempt, remaining))
                if method == "LeaseKeepAlive":  # a stream: one request, one answer
                    call = stub.LeaseKeepAlive(iter([request]), timeout=timeout)
                    try:
                        async for resp in call:
                            return resp
                    finally:
                        call.cancel()
                    raise grpc.aio.AioRpcError(
                        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(),
                        "keepalive stream ended without an answer",
                    )  # fmt: skip
                return await getattr(stub, method)(request, timeout=timeout)
            except grpc.aio.AioRpcError as e:
                code, details = e.code(), e.details() or ""
                if code not in _RETRYABLE and "too many requests" not in details:
                    raise self._translate(code, details, request) from e
                last = f"{self._members[index].target}: {code.name} {details}"
            if self._current == index:  # others may have moved on already
                self._current = (index + 1) % n
            attempt += 1
            remaining = deadline - loop_time()
            if remaining <= 0:
                raise MetaUnavailable(
                    f"etcd did not answer within {self.timeout:.1f}s over {attempt} attempts "
                    f"({', '.join(self.endpoints)}); last error: {last}"
                )
            if attempt % n == 0:
                await asyncio.sleep(min(remaining, backoff * (0.5 + random.random())))
                backoff = min(backoff * 2, 0.5)

    def _translate(self, code: grpc.StatusCode, details: str, request: Any) -> Exception:
        if code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(request, rpc.TxnRequest):
            if "too many operations" in details:
                return TxnTooLarge(
                    self._too_many_ops(len(request.compare), len(request.success))
                    + " (the server refused it: its --max-txn-ops is lower than max_txn_ops)"
                )
            if "too large" in details:
                return TxnTooLarge(
                    self._too_large(request.ByteSize())
                    + " (the server refused it: its --max-request-bytes is lower)"
                )
        if (
            code == grpc.StatusCode.RESOURCE_EXHAUSTED
            and "grpc: received message larger" in details
        ):
            return TxnTooLarge(f"etcd refused the request as too large: {details}")
        return MetaError(f"etcd: {code.name}: {details}")


class EtcdLease:
    """An etcd lease: keys put under it are deleted by etcd when it expires."""

    def __init__(self, kv: EtcdKV, lease_id: int, ttl: float) -> None:
        self.kv = kv
        self.id = lease_id
        self.ttl = ttl

    async def keepalive(self) -> bool:
        resp = await self.kv._call("LeaseKeepAlive", rpc.LeaseKeepAliveRequest(ID=self.id), "lease")
        return resp.TTL > 0

    async def revoke(self) -> None:
        try:
            await self.kv._call("LeaseRevoke", rpc.LeaseRevokeRequest(ID=self.id), "lease")
        except MetaError as e:
            if "requested lease not found" not in str(e):
                raise


def _extra_time(request: Any) -> float:
    """More time per attempt for big requests: 1 s per 8 MiB sent, 1 s per 100,000 keys
    a scan may return (only what a slow disk or a big response needs on top of the base)."""
    if isinstance(request, rpc.TxnRequest):
        return request.ByteSize() / (8 << 20)
    if isinstance(request, rpc.RangeRequest) and request.range_end:
        return min(request.limit or 1_000_000, 1_000_000) / 100_000
    return 0.0


def _prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for "every key starting with prefix" (b"\\0" = no end)."""
    p = prefix.rstrip(b"\xff")
    return p[:-1] + bytes([p[-1] + 1]) if p else b"\x00"
