"""The CPU a durable large PUT cannot avoid on this machine, per GB, step by step.

    python -m benchmarks.put_floor [--mib 256] [--rounds 3] [--dir DIR]

The issue's budget for a large PUT is 3 s of server CPU per GB. This script measures,
without Cairn, what each step that any S3 server storing the object durably must take
costs here, in CPU time (user + system) of the thread doing it, or of the whole process
while it does nothing else:

* receiving the body from a loopback TCP socket (the kernel's copy and protocol work);
* MD5 of every byte: S3 defines the ETag of a single PUT as the body's MD5;
* one copy of the body in user space (from the socket's buffers into a block);
* writing it to a file in 4 MiB writes, fdatasync'd every 16 MiB (acknowledged bytes are
  on disk) and then dropped from the page cache, as Cairn's block store does;

then Cairn's own per-byte work: BLAKE3 (the block's address) and CRC32C (the checksum kept
beside each block for reads, computed on receive and checked again as it is written).

It prints each figure and the sum of the unavoidable steps: if that sum is near or above
3 s/GB, no design on this machine meets the budget without dropping the MD5 ETag or
durability. Medians of the rounds; the machine is shared, so figures move between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import statistics
import tempfile
import threading
import time

import blake3
import crc32c

from benchmarks import page_cache_writes

MiB = 1 << 20
BLOCK = 4 * MiB


def _timed(fn) -> float:  # noqa: ANN001
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def receive_cost(data: memoryview) -> float:
    """CPU of the receiving thread while `data` crosses a loopback TCP connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as out:
            out.sendall(data)

    sender = threading.Thread(target=send)
    sender.start()
    conn, _ = listener.accept()
    buf = bytearray(256 * 1024)
    left = len(data)

    def recv() -> None:
        nonlocal left
        while left:
            n = conn.recv_into(buf)
            if not n:
                break
            left -= n

    cost = _timed(recv)
    sender.join()
    conn.close()
    listener.close()
    return cost


def copy_cost(data: memoryview) -> float:
    # Into a memoryview, as ObjectService.store_body fills its block buffers: slice
    # assignment into a bytearray itself costs half as much again (0.11 vs 0.07 s/GB).
    block = memoryview(bytearray(BLOCK))

    def copy(piece: memoryview) -> None:
        block[: len(piece)] = piece

    return _per_block_cost(data, copy)


def write_cost(data: memoryview, directory: str) -> float:
    """The block store's way of writing (page_cache_writes' "drop" mode): 4 MiB writes,
    fdatasync every 16 MiB, then the synced pages dropped from the page cache."""
    path = os.path.join(directory, f"put-floor-{os.getpid()}")
    ms_per_block, _ = page_cache_writes.write_cost(path, len(data), BLOCK, data, drop=True)
    return ms_per_block / 1000 * len(data) / BLOCK


def _per_block_cost(data: memoryview, step) -> float:  # noqa: ANN001
    """CPU of running step over data, one 4 MiB block at a time."""

    def run() -> None:
        for off in range(0, len(data), BLOCK):
            step(data[off : off + BLOCK])

    return _timed(run)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mib", type=int, default=256, help="bytes per step and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--dir", default=None, help="where the write step writes (default: tmp)")
    args = p.parse_args()
    data = memoryview(os.urandom(args.mib * MiB))
    per_gb = 1e9 / len(data)
    directory = args.dir or tempfile.gettempdir()

    steps = {
        "receive (loopback TCP)": lambda: receive_cost(data),
        "MD5 (the ETag)": lambda: _per_block_cost(data, hashlib.md5().update),
        "one user-space copy": lambda: copy_cost(data),
        "write 4 MiB + fdatasync/16 MiB": lambda: write_cost(data, directory),
        "BLAKE3 (block address)": lambda: _per_block_cost(data, blake3.blake3().update),
        "CRC32C x2 (read check)": lambda: 2 * _per_block_cost(data, crc32c.crc32c),
    }
    unavoidable = list(steps)[:4]
    figures: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            figures[name].append(step() * per_gb)

    medians = {name: statistics.median(v) for name, v in figures.items()}
    print(f"CPU seconds per GB, median of {args.rounds} rounds of {args.mib} MiB")
    for name, value in medians.items():
        spread = f"{min(figures[name]):.2f}-{max(figures[name]):.2f}"
        print(f"  {name:34s} {value:5.2f}  ({spread})")
    floor = sum(medians[n] for n in unavoidable)
    own = floor + sum(v for n, v in medians.items() if n not in unavoidable)
    print(f"  {'sum of the unavoidable steps':34s} {floor:5.2f}")
    print(f"  {'plus BLAKE3 and CRC32C':34s} {own:5.2f}   (budget: 3.00)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
