"""malloc settings and trimming when idle, measured on a real process's RSS."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from blockstore.memory import tune_malloc, trim_when_idle

    def anon_mib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024

    assert tune_malloc()
    # 4 MiB blocks from the heap, each followed by a small allocation that pins the heap
    # above it: freeing the blocks leaves holes that only malloc_trim hands back.
    blocks, pins = [], []
    for _ in range(24):
        b = bytearray(4 << 20)
        b[::4096] = b"x" * len(b[::4096])
        blocks.append(b)
        pins.append(bytearray(1024))
    del blocks
    held = anon_mib()
    state = {"started": 0, "running": int(sys.argv[1])}

    async def main():
        task = asyncio.ensure_future(
            trim_when_idle(lambda: (state["started"], state["running"]), idle=0.1)
        )
        await asyncio.sleep(0.15)
        state["started"] += 1  # a write came and went (or, with running=1, is under way)
        # The trim needs 0.1 s of quiet seen by a 20 ms tick; a whole second leaves room
        # for a loaded machine's stalls.
        await asyncio.sleep(1.0)
        task.cancel()

    asyncio.run(main())
    print(held, anon_mib())
    """
)


def _run(running: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(running)], capture_output=True, text=True, check=True
    )
    held, after = map(float, out.stdout.split())
    return held, after


def test_idle_process_gives_freed_heap_back() -> None:
    held, after = _run(running=0)
    assert held > 80, f"the freed blocks should still be held before the trim ({held} MiB)"
    assert after < held - 64, f"idle trim gave back too little: {held} -> {after} MiB"


def test_no_trim_while_a_write_is_under_way() -> None:
    held, after = _run(running=1)
    assert after > held - 8, f"trimmed while busy: {held} -> {after} MiB"
