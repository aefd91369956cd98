"""Real network partitions for the fault campaign: each storage node runs in its own
network namespace, linked to the host by a veth pair, and the nemesis cuts that link in
the kernel (no proxy, no iptables: this machine has none).

Node i of campaign PID gets namespace `cairn<PID>-n<i>` and the veth pair `c<PID>r<i>`
(host side) / `c<PID>n<i>` (namespace side), on the subnet 10.201.<S+i>.0/24 of a slot S
free on this machine:

    host side   10.201.<S+i>.1/24   source of gateway and meta traffic to the node
    host side   10.201.<S+i>.3/32   where etcd also listens: the node's heartbeat goes here
    namespace   10.201.<S+i>.2/24   the node listens and registers here (and lo is up)

so the two directions of interest can be cut apart:

- partition(i): a blackhole route to 10.201.<S+i>.1 inside the namespace. The node's
  answers to gateways and meta services vanish (their SYNs arrive, no SYN-ACK returns;
  open connections stall both ways, as no ACK comes back: a request's first window may
  still land, its answer is lost), while its heartbeats to .3 go on: the node stays "up"
  in the registry and cannot be reached. (A drop on the way in would need tc actions,
  which this kernel lacks; the blackhole alone already stalls TCP both ways.)
- isolate(i): the namespace side of the veth goes down. Everything stops, the heartbeat
  too (its lease expires, repair starts); the host side sees silence, not resets.
- heal(i): the route is removed and the link comes up. TCP connections that survived
  resume, as after a real partition; the rest time out on their own.

Addresses exist only on links inside this machine; nothing listens on an external one.
Everything is created by root (`ip netns`, `ip link`), and deleted by `remove()`, which the
trial calls in a finally block and atexit calls too; `sweep()` deletes what a killed run
of the same PID left behind (and nothing of any other campaign)."""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
from dataclasses import dataclass, field

SLOTS = 32  # subnets 10.201.<8*k>.0/24 ... : 32 campaigns of up to 8 nodes at once
SLOT_WIDTH = 8


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One `ip` command; its stderr is in the exception when it fails."""
    got = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and got.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {got.stderr.strip()}")
    return got


def available() -> bool:
    """Whether namespaces can be made here (root, and iproute2 installed)."""
    if os.geteuid() != 0:
        return False
    try:
        return ip("netns", "list", check=False).returncode == 0
    except FileNotFoundError:
        return False


def _used_subnets() -> set[int]:
    """Third octets of the 10.201.x.y addresses on this machine's host namespace."""
    out = ip("-o", "-4", "addr", "show").stdout
    used = set()
    for word in out.split():
        if word.startswith("10.201."):
            used.add(int(word.split(".")[2]))
    return used


def _free_slot() -> int:
    """A slot none of whose subnets is in use, starting from one the PID picks, so that
    campaigns started together rarely probe the same one first."""
    used = _used_subnets()
    for k in range(SLOTS):
        slot = (os.getpid() + k) % SLOTS
        if not used & set(range(slot * SLOT_WIDTH, (slot + 1) * SLOT_WIDTH)):
            return slot * SLOT_WIDTH
    raise RuntimeError("no free 10.201.x.0/24 subnets for the node namespaces")


@dataclass
class NodeLink:
    """Node i's namespace and veth pair, and the three addresses on it."""

    namespace: str
    host_side: str
    node_side: str
    subnet: int  # the third octet

    def addr(self, last: int) -> str:
        return f"10.201.{self.subnet}.{last}"

    @property
    def node_ip(self) -> str:
        return self.addr(2)

    @property
    def etcd_ip(self) -> str:
        return self.addr(3)

    def create(self) -> None:
        ip("netns", "add", self.namespace)
        ip("link", "add", self.host_side, "type", "veth", "peer", "name", self.node_side,
           "netns", self.namespace)  # fmt: skip
        ip("addr", "add", f"{self.addr(1)}/24", "dev", self.host_side)
        ip("addr", "add", f"{self.etcd_ip}/32", "dev", self.host_side)
        ip("link", "set", self.host_side, "up")
        ip("-n", self.namespace, "addr", "add", f"{self.node_ip}/24", "dev", self.node_side)
        ip("-n", self.namespace, "link", "set", self.node_side, "up")
        ip("-n", self.namespace, "link", "set", "lo", "up")

    def partition(self) -> None:
        ip("-n", self.namespace, "route", "replace", "blackhole", f"{self.addr(1)}/32")

    def isolate(self) -> None:
        ip("-n", self.namespace, "link", "set", self.node_side, "down")

    def heal(self) -> None:
        ip("-n", self.namespace, "route", "del", "blackhole", f"{self.addr(1)}/32", check=False)
        ip("-n", self.namespace, "link", "set", self.node_side, "up", check=False)

    def remove(self) -> None:
        """The veth first: deleting a namespace that a process still holds open would
        leave its link alive until that process exits."""
        ip("link", "del", self.host_side, check=False)
        ip("netns", "del", self.namespace, check=False)

    def spec(self) -> str:
        """`cairn cluster up --node-netns`'s entry for this node: NS/NODE_IP/ETCD_IP."""
        return f"{self.namespace}/{self.node_ip}/{self.etcd_ip}"


@dataclass
class NodeLinks:
    """The namespaces of one trial's nodes; a context manager that always removes them."""

    count: int
    links: list[NodeLink] = field(default_factory=list)

    def __enter__(self) -> NodeLinks:
        if self.count > SLOT_WIDTH:
            raise ValueError(f"at most {SLOT_WIDTH} nodes per trial have namespaces")
        sweep()
        first = _free_slot()
        pid = os.getpid()
        self.links = [
            NodeLink(f"cairn{pid}-n{i}", f"c{pid}r{i}", f"c{pid}n{i}", first + i)
            for i in range(self.count)
        ]
        atexit.register(self.remove)
        try:
            for link in self.links:
                link.create()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for link in self.links:
            link.remove()
        with contextlib.suppress(ValueError):
            atexit.unregister(self.remove)

    def spec(self) -> str:
        return ",".join(link.spec() for link in self.links)


def _stale(name: str, prefix: str, sep: str) -> bool:
    """Whether `name` is `<prefix><PID><sep><i>` for this process or for a PID that no
    longer runs (a campaign killed before its cleanup): never a live campaign's."""
    pid, _, index = name.removeprefix(prefix).partition(sep)
    if not name.startswith(prefix) or not pid.isdigit() or not index.isdigit():
        return False
    return int(pid) == os.getpid() or not os.path.exists(f"/proc/{pid}")


def sweep() -> None:
    """Delete the namespaces and veths a trial left behind: this process's, or those of a
    campaign whose process is gone. A live campaign's names carry a live PID: kept."""
    for name in ip("netns", "list").stdout.split():
        if _stale(name, "cairn", "-n"):
            ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if _stale(name, "c", "r"):
            ip("link", "del", name, check=False)
