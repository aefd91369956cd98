"""The multipart part of the object service, without HTTP: Complete's checks, its
multipart ETag, the completed-again answer and the retry on a part changed meanwhile;
ListMultipartUploads paging. Real LMDB metadata and block store, no stand-ins."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from gateway.errors import EntityTooSmall, InvalidPart, InvalidPartOrder, from_internal
from gateway.objects import complete
from gateway.objects.service import ObjectService
from gateway.objects.types import ObjectAttrs, UploadInfo
from gateway.objects.upload_listing import page_uploads
from meta.errors import UploadNotFound
from meta.lmdb_kv import LmdbKV
from meta.store import MetaStore

BUCKET = "mp"
SMALL_PART = 1000  # instead of 5 MiB, so that tests stay small


@dataclass
class Req:
    number: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ObjectService]:
    monkeypatch.setattr(complete, "MIN_PART_SIZE", SMALL_PART)
    kv = LmdbKV(tmp_path / "meta", map_size=1 << 28)
    store = LmdbBlockStore(tmp_path / "n0", map_size=1 << 28)
    meta = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    await meta.create_bucket(BUCKET, "us-east-1")
    yield ObjectService(meta, ReplicatedBlocks({"n0": store}), block_size=4096, inline_max=0)
    await store.close()
    await kv.close()


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _upload(svc: ObjectService, key: str = "k") -> UploadInfo:
    return await svc.multipart.create(BUCKET, key, ObjectAttrs(), None, None)


async def _parts(svc: ObjectService, upload: UploadInfo, *datas: bytes) -> list[Req]:
    out = []
    for n, data in enumerate(datas, 1):
        part = await svc.multipart.upload_part(upload, n, _body(data))
        out.append(Req(n, part.etag))
    return out


async def _read(svc: ObjectService, key: str) -> bytes:
    obj = await svc.get_object(BUCKET, key)
    return b"".join([bytes(c) async for c in svc.read(obj)])


async def test_complete_joins_the_parts_under_the_multipart_etag(svc: ObjectService) -> None:
    datas = [os.urandom(SMALL_PART), os.urandom(SMALL_PART + 5000), b"tail"]
    upload = await _upload(svc)
    reqs = await _parts(svc, upload, *datas)
    done = await svc.multipart.complete(BUCKET, "k", upload.upload_id, reqs)
    md5s = b"".join(hashlib.md5(d).digest() for d in datas)
    assert done.etag == hashlib.md5(md5s).hexdigest() + "-3"
    assert await _read(svc, "k") == b"".join(datas)
    obj = await svc.get_object(BUCKET, "k")
    assert obj.parts == [len(d) for d in datas]


async def test_complete_checks_order_etags_and_sizes(svc: ObjectService) -> None:
    upload = await _upload(svc)
    reqs = await _parts(svc, upload, os.urandom(SMALL_PART), b"short", b"last")
    mp = svc.multipart
    with pytest.raises(InvalidPartOrder):
        await mp.complete(BUCKET, "k", upload.upload_id, [reqs[1], reqs[0]])
    with pytest.raises(InvalidPart) as bad:
        await mp.complete(BUCKET, "k", upload.upload_id, [Req(1, "0" * 32)])
    assert bad.value.extra == {"UploadId": upload.upload_id, "PartNumber": "1", "ETag": "0" * 32}
    with pytest.raises(EntityTooSmall) as small:
        await mp.complete(BUCKET, "k", upload.upload_id, reqs)
    assert small.value.extra["PartNumber"] == "2"
    # Nothing was committed by the refused attempts: the upload is still open.
    assert (await mp.upload(BUCKET, "k", upload.upload_id)).upload_id == upload.upload_id


async def test_a_part_number_named_twice_is_its_last_entry(svc: ObjectService) -> None:
    """Two uploads of part 1, the one that started first finishing last: it is the part
    (last writer wins, its blocks replace the other's), and a list that names both answers
    completes with the last entry, as the current part's ETag."""
    upload = await _upload(svc)
    mp = svc.multipart
    meta = svc.meta
    b = await mp.upload_part(upload, 1, _body(b"B" * 8))
    (b_block,) = [h for p, _ in await mp.uploads.parts(upload.upload_id) for h, _ in p.blocks]
    a = await mp.upload_part(upload, 1, _body(b"A" * 8))
    assert await meta.refcount(b_block) == 0  # the replaced part's block is released
    listed = await mp.list_parts(upload, 0, 10)
    assert [(p.number, p.etag) for p in listed.parts] == [(1, a.etag)]
    # The earlier entry of the number is superseded; a stale ETag as the last one is not.
    with pytest.raises(InvalidPart):
        await mp.complete(BUCKET, "k", upload.upload_id, [Req(1, a.etag), Req(1, b.etag)])
    done = await mp.complete(BUCKET, "k", upload.upload_id, [Req(1, b.etag), Req(1, a.etag)])
    assert done.etag == hashlib.md5(hashlib.md5(b"A" * 8).digest()).hexdigest() + "-1"
    assert await _read(svc, "k") == b"A" * 8


async def test_a_retried_complete_answers_as_the_first(svc: ObjectService) -> None:
    upload = await _upload(svc)
    reqs = await _parts(svc, upload, b"only part")
    first = await svc.multipart.complete(BUCKET, "k", upload.upload_id, reqs)
    again = await svc.multipart.complete(BUCKET, "k", upload.upload_id, reqs)
    assert again == first


async def test_a_gone_upload_is_no_such_upload_with_its_id(svc: ObjectService) -> None:
    upload = await _upload(svc)
    reqs = await _parts(svc, upload, b"x")
    await svc.multipart.abort(BUCKET, "k", upload.upload_id)
    with pytest.raises(UploadNotFound) as gone:
        await svc.multipart.complete(BUCKET, "k", upload.upload_id, reqs)
    err = from_internal(gone.value)  # the one mapping every handler relies on
    assert (err.code, err.extra) == ("NoSuchUpload", {"UploadId": upload.upload_id})


async def test_complete_reads_the_parts_again_when_one_changed(
    svc: ObjectService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part committed between Complete's read of the parts and its commit changes the
    upload record: the commit fails with PartChanged and Complete starts over."""
    upload = await _upload(svc)
    reqs = await _parts(svc, upload, b"one")
    uploads = svc.multipart.uploads
    real_parts = uploads.parts
    calls = 0

    async def parts_then_another_upload(upload_id: str, **kw: int):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        rows = await real_parts(upload_id, **kw)
        if calls == 1:  # a concurrent UploadPart of an unrelated part number
            await svc.multipart.upload_part(upload, 7, _body(b"late"))
        return rows

    monkeypatch.setattr(uploads, "parts", parts_then_another_upload)
    done = await svc.multipart.complete(BUCKET, "k", upload.upload_id, reqs)
    assert calls == 2
    assert done.etag.endswith("-1")
    assert await _read(svc, "k") == b"one"


async def test_list_parts_pages_by_part_number(svc: ObjectService) -> None:
    upload = await _upload(svc)
    await _parts(svc, upload, b"a", b"b", b"c")
    page = await svc.multipart.list_parts(upload, marker=1, max_parts=1)
    assert [p.number for p in page.parts] == [2] and page.truncated
    page = await svc.multipart.list_parts(upload, marker=2, max_parts=5)
    assert [p.number for p in page.parts] == [3] and not page.truncated


@dataclass
class U:
    key: str
    upload_id: str


def test_upload_pages_start_after_the_marker_upload_and_roll_up_prefixes() -> None:
    listed = [U("a/1", "z"), U("a/2", "y"), U("b", "2"), U("b", "1"), U("c", "3")]
    ups, prefixes, truncated = page_uploads(listed, "", "/", "", "", 1000)
    assert ([u.upload_id for u in ups], prefixes, truncated) == (["2", "1", "3"], ["a/"], False)
    # The id marker is a position among the key's uploads (by initiation), not an order.
    ups, prefixes, truncated = page_uploads(listed, "", "", "b", "2", 1000)
    assert [u.upload_id for u in ups] == ["1", "3"]
    ups, prefixes, truncated = page_uploads(listed, "", "/", "", "", 2)
    assert ([u.upload_id for u in ups], prefixes, truncated) == (["2"], ["a/"], True)
