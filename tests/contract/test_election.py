"""Leader election on leases (meta.election), on every KV backend."""

from __future__ import annotations

import asyncio

from meta.api import KV
from meta.election import Election


async def test_one_leader_among_candidates(kv: KV) -> None:
    cands = [Election(kv, "hk", f"c{i}", ttl=2) for i in range(3)]
    for _ in range(3):
        for c in cands:
            await c.step()
    assert sum(c.is_leader for c in cands) == 1
    leader = next(c for c in cands if c.is_leader)
    assert await cands[0].leader() == leader.holder
    for c in cands:
        await c.resign()


async def test_dead_leader_is_replaced_within_the_ttl(kv: KV) -> None:
    a, b = Election(kv, "hk", "a", ttl=2), Election(kv, "hk", "b", ttl=2)
    assert await a.step()
    assert not await b.step()
    # a dies: it neither renews nor resigns. b campaigns every 0.25 s.
    loop = asyncio.get_running_loop()
    died = loop.time()
    while not await b.step():
        assert loop.time() - died < 2 + 3, "no takeover within the TTL (plus slack)"
        assert not b.is_leader
        await asyncio.sleep(0.25)
    took = loop.time() - died
    assert took >= 1.0  # not before a's lease could have expired
    assert await b.leader() == "b"
    # a comes back: its lease is gone, so it finds out and does not act.
    assert not await a.step()
    assert not a.is_leader
    await b.resign()


async def test_resign_hands_over_at_once(kv: KV) -> None:
    a, b = Election(kv, "hk", "a", ttl=30), Election(kv, "hk", "b", ttl=30)
    assert await a.step()
    await a.resign()
    assert not a.is_leader
    assert await b.step()
    assert await a.leader() == "b"
    await b.resign()
    assert await a.leader() is None


async def test_leader_keeps_leading_while_it_renews(kv: KV) -> None:
    # A TTL of 2 s leaves 1.75 s between renewals for a loaded machine's stalls (with 1 s,
    # a 0.7 s stall while b campaigns would let a's lease lapse, and the test would fail).
    a, b = Election(kv, "hk", "a", ttl=2), Election(kv, "hk", "b", ttl=2)
    assert await a.step()
    for _ in range(12):  # 3 s: longer than the TTL
        await asyncio.sleep(0.25)
        assert await a.step()
        assert not await b.step()
    await a.resign()
