"""ListObjectVersions against a model, with hypothesis: random puts, deletes, deletes by
version and versioning state changes (never versioned, Enabled, Suspended) on a real LMDB;
every page size, with and without a delimiter, lists exactly the model's history, and
ListObjects lists exactly the keys whose newest version is not a delete marker."""

from __future__ import annotations

import asyncio
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta.lmdb_kv import LmdbKV
from meta.records import ObjectHead
from meta.store import MetaStore

BUCKET = "model"
KEYS = ["a", "a/b", "a/c/d", "b", "b/", "c", "ü/x"]

Op = tuple[str, int, int]  # (kind, key index, version index or state)
ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "delete", "drop", "state"]),
        st.integers(0, len(KEYS) - 1),
        st.integers(0, 7),
    ),
    max_size=40,
)

Model = dict[str, list[tuple[str, bool]]]  # key -> [(version id, is marker)], newest first


async def apply(store: MetaStore, model: Model, state: list[str | None], op: Op) -> None:
    kind, ki, n = op
    key = KEYS[ki]
    history = model.setdefault(key, [])
    if kind == "state":
        status = "Enabled" if n % 2 else "Suspended"

        def change(rec) -> None:  # type: ignore[no-untyped-def]
            rec.config["versioning"] = status

        await store.update_bucket(BUCKET, change)
        state[0] = status
        return
    if kind == "drop":
        if history:
            vid, _ = history.pop(n % len(history))
            await store.delete_version(BUCKET, key, vid)
        return
    if kind == "put":
        head = ObjectHead(key, inline=b"")
        await store.put_object(BUCKET, head, {})
        entry = (head.vid, False)
    else:
        _, marker = await store.delete_current(BUCKET, key)
        if marker is None:  # unversioned: the object is gone
            history.clear()
            return
        entry = (marker.vid, True)
    if state[0] is None:
        history[:] = [entry]
        return
    if state[0] == "Suspended":
        history[:] = [h for h in history if h[0] != "null"]
    history.insert(0, entry)


def expected_rows(model: Model) -> list[tuple[str, str, bool, bool]]:
    return [
        (k, vid, i == 0, dm)
        for k in sorted(model, key=str.encode)
        for i, (vid, dm) in enumerate(model[k])
    ]


def with_delimiter(rows: list[tuple[str, str, bool, bool]]) -> list[object]:
    out: list[object] = []
    for row in rows:
        if "/" in row[0]:
            cp = row[0][: row[0].index("/") + 1]
            if cp not in out:
                out.append(cp)
        else:
            out.append(row)
    return out


async def listed(store: MetaStore, delimiter: str, size: int) -> list[object]:
    out: list[object] = []
    km = vm = ""
    while True:
        page = await store.list_versions(BUCKET, "", delimiter, km, vm, size)
        assert len(page.entries) <= size
        for e in page.entries:
            h = e.head
            out.append(e.key if h is None else (h.key, h.version_id, h.is_latest, h.marker))
        if not page.truncated:
            return out
        km, vm = page.next_key or "", page.next_version or ""


async def run(steps: list[Op], size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-versions-model-") as tmp:
        kv = LmdbKV(tmp, map_size=1 << 28)
        try:
            store = MetaStore(kv)
            await store.create_bucket(BUCKET, "us-east-1")
            model: Model = {}
            state: list[str | None] = [None]
            for op in steps:
                await apply(store, model, state, op)
            rows = expected_rows(model)
            assert await listed(store, "", size) == rows
            assert await listed(store, "/", size) == with_delimiter(rows)
            current = [k for k, _, latest, dm in rows if latest and not dm]
            entries, _ = await store.list_objects(BUCKET, limit=1000)
            assert [e.key for e in entries] == current
        finally:
            await kv.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=ops, size=st.integers(1, 5))
def test_versions_listing_matches_the_model(steps: list[Op], size: int) -> None:
    asyncio.run(run(steps, size))
