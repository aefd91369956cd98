"""`cairn cluster up` draws all its ports before the children bind them, so a port the
kernel hands out twice would make one child fail with EADDRINUSE."""

from __future__ import annotations

from cairn.launcher import free_port


def test_ports_drawn_by_one_launcher_are_all_different() -> None:
    # About 14,000 ports are in the kernel's draw; 2,000 draws would repeat one about
    # 140 times if repeats were not refused.
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
