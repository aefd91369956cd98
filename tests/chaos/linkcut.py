"""A TCP proxy in front of one storage node, which the nemesis can cut: the campaign's
network partition between the node and everything that reaches it by its registered URL
(gateways, the meta leader's repair and GC), while the node's own heartbeats to etcd go on,
so its lease stays alive: the node is "up" in the registry and unreachable.

    python -m tests.chaos.linkcut LISTEN_PORT TARGET_PORT   # SIGUSR1 cuts, SIGUSR2 heals

Cut means blackholed, as a dropped link is: bytes in flight on open connections stop
being passed either way, and new connections are accepted but nothing passes on them; the
peers see timeouts, not resets. Healing closes the stalled connections (their TCP state
would not have survived a real partition of that length) and passes bytes again.

Why a proxy: the cluster's processes share the host's network namespace and this machine
has no iptables; `cairn cluster up --node-advertise-ports` makes each node register at
the proxy's port instead of its own (a test hook in cairn/launcher.py)."""

from __future__ import annotations

import asyncio
import signal
import sys


class LinkCut:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = asyncio.Event()  # set while partitioned
        self.healed = asyncio.Event()
        self.healed.set()
        self.stalled: set[asyncio.StreamWriter] = set()

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut.is_set():
            self.stalled.add(writer)
            return  # accepted, never answered: a blackhole
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self.pipe(reader, up_w), self.pipe(up_r, writer))

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                if self.cut.is_set():
                    self.stalled.add(writer)
                    await self.healed.wait()
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def do_cut(self) -> None:
        self.healed.clear()
        self.cut.set()

    def do_heal(self) -> None:
        self.cut.clear()
        for w in self.stalled:
            w.close()
        self.stalled.clear()
        self.healed.set()


async def main(listen: int, target: int) -> None:
    link = LinkCut(target)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, link.do_cut)
    loop.add_signal_handler(signal.SIGUSR2, link.do_heal)
    server = await asyncio.start_server(link.client, "127.0.0.1", listen, reuse_address=True)
    print(f"linkcut 127.0.0.1:{listen} -> 127.0.0.1:{target}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
