"""The nemesis: one fault at a time, drawn from the trial's seed, applied to the real
processes of a `cairn cluster up` and healed before the next.

Faults (their names are the report's "faults by kind"):
- kill-node / kill-gateway / kill-etcd-leader / kill-etcd-follower / kill-meta-leader:
  SIGKILL, a few seconds down, then the same command line again;
- pause-node / pause-gateway / pause-meta-leader: SIGSTOP for longer than a lease (the
  node's 6 s, the election's 5 s), then SIGCONT; a gateway is paused with its workers,
  mid-request when traffic is on, and a meta leader that wakes must find it lost the lead;
- partition-node: in the node's network namespace (netns.py), a blackhole route to the
  host side's address: gateways and meta services cannot reach a node whose heartbeat to
  etcd goes on, so its lease stays alive ("up" in the registry, unreachable);
- isolate-node: the node's veth link goes down, heartbeat too, for longer than its lease:
  it leaves the live set and repair may start;
- disk-full: a filler file takes all the free space of the node's small tmpfs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.netns import NodeLink
from tests.cluster_util import CairnCluster, _alive
from tests.etcd_cluster import member_status

NODE_LEASE = 6.0  # meta/nodes.py: the node's lease TTL
META_LEASE = 5.0  # cairn meta --lease-ttl default


def children(pid: int) -> list[int]:
    """Direct children of pid (a gateway's pre-forked workers)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def meta_leaders(cluster: CairnCluster) -> list[int]:
    """The meta services that say they lead now (GET /status)."""
    out = []
    for i, proc in enumerate(cluster.processes("meta")):
        try:
            with urllib.request.urlopen(f"{proc['url']}/status", timeout=1) as resp:
                if json.loads(resp.read()).get("leader"):
                    out.append(i)
        except OSError:
            continue
    return out


def meta_leader(cluster: CairnCluster) -> int | None:
    leaders = meta_leaders(cluster)
    return leaders[0] if leaders else None


def etcd_roles(cluster: CairnCluster) -> tuple[int | None, list[int]]:
    """(leader index, follower indexes) of the etcd members that answer."""
    leader, followers = None, []
    for i, proc in enumerate(cluster.processes("etcd")):
        st = member_status(proc["address"])
        if st is None:
            continue
        if str(st["header"]["member_id"]) == str(st.get("leader")):
            leader = i
        else:
            followers.append(i)
    return leader, followers


@dataclass
class Nemesis:
    cluster: CairnCluster
    rng: random.Random
    kinds: tuple[str, ...]
    links: dict[int, NodeLink] = field(default_factory=dict)  # node index -> its namespace
    disks: dict[int, Path] = field(default_factory=dict)  # node index -> its tmpfs
    faults: Counter = field(default_factory=Counter)
    crashes: Counter = field(default_factory=Counter)  # processes found dead, by role
    split_brain: int = 0  # times two meta services said they lead at once
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._dead: set[tuple[str, int]] = set()
        self._paused: dict[tuple[str, int], list[int]] = {}
        self._cut: set[int] = set()  # nodes whose link is partitioned or down

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)
        self.heal()  # and anything that died between faults is restarted (and counted)

    def _run(self) -> None:
        if not self.kinds:  # every kind asked for needs what this machine lacks (root)
            return
        while not self._stop.is_set():
            if self._stop.wait(self.rng.uniform(0.3, 1.5)):
                return
            kind = self.rng.choice(self.kinds)
            try:
                self.inject(kind)
            except Exception as exc:  # noqa: BLE001 - a fault that could not be set up
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            finally:
                self.heal()

    def _note(self, text: str) -> None:
        self.log.append(f"{time.monotonic() - self._t0:7.2f} {text}")

    def inject(self, kind: str) -> None:
        """Apply one fault and hold it; heal() undoes it."""
        action, _, target = kind.partition("-")
        index = self._target(target)
        if index is None:
            return
        role = target.split("-")[0]
        self.faults[kind] += 1
        self._note(f"{kind} {role}-{index}")
        if action == "kill":
            self.cluster.kill9(role, index)
            self._dead.add((role, index))
            self._stop.wait(self.rng.uniform(0.5, 3.0))
        elif action == "pause":
            lease = NODE_LEASE if role == "node" else META_LEASE
            self._pause(role, index)
            self._stop.wait(lease + self.rng.uniform(0.5, 1.5))
        elif action == "partition" and index in self.links:
            self._cut.add(index)
            self.links[index].partition()
            self._stop.wait(self.rng.uniform(1.0, 5.0))
        elif action == "isolate" and index in self.links:
            self._cut.add(index)
            self.links[index].isolate()
            self._stop.wait(NODE_LEASE + self.rng.uniform(1.0, 3.0))
        elif action == "disk":
            self._fill(index)
            self._stop.wait(self.rng.uniform(1.0, 4.0))

    def _target(self, target: str) -> int | None:
        if target == "etcd-leader":
            return etcd_roles(self.cluster)[0]
        if target == "etcd-follower":
            followers = etcd_roles(self.cluster)[1]
            return self.rng.choice(followers) if followers else None
        if target == "meta-leader":
            return meta_leader(self.cluster)
        if target == "full":  # disk-full: a node on a small filesystem
            return self.rng.choice(sorted(self.disks)) if self.disks else None
        count = len(self.cluster.processes(target))
        return self.rng.randrange(count) if count else None

    def _pause(self, role: str, index: int) -> None:
        pid = self.cluster.processes(role)[index]["pid"]
        pids = [pid, *children(pid)]
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        self._paused[(role, index)] = pids

    def _fill(self, index: int) -> None:
        """Take every free byte of the node's filesystem."""
        st = os.statvfs(self.disks[index])
        free = st.f_bavail * st.f_frsize
        with open(self.disks[index] / "filler", "wb") as f:
            for _ in range(free // (1 << 20) + 1):
                try:
                    f.write(b"\0" * (1 << 20))
                except OSError:
                    break

    def heal(self) -> None:
        """Undo every fault: resume, restart, reconnect, free the disk."""
        for (role, index), pids in list(self._paused.items()):
            for p in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGCONT)
            del self._paused[(role, index)]
            if role == "meta":
                self._watch_leaders()
        for role, index in sorted(self._dead | self._crashed()):
            self._restart(role, index)
        self._dead.clear()
        for index in sorted(self._cut):
            self.links[index].heal()
        self._cut.clear()
        for disk in self.disks.values():
            (disk / "filler").unlink(missing_ok=True)

    def _watch_leaders(self, seconds: float = 1.5) -> None:
        """Right after a paused meta leader wakes: never two processes acting as leader."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            leaders = meta_leaders(self.cluster)
            if len(leaders) > 1:
                self.split_brain += 1
                self._note(f"two meta leaders at once: {leaders}")
                return
            time.sleep(0.1)

    def _crashed(self) -> set[tuple[str, int]]:
        """Processes that died of a fault other than a kill (a node on a full disk)."""
        out = set()
        for role in ("node", "gateway", "meta", "etcd"):
            for i, proc in enumerate(self.cluster.processes(role)):
                if (role, i) not in self._dead and not _alive(int(proc["pid"])):
                    self._note(f"{role}-{i} found dead")
                    self.crashes[role] += 1
                    out.add((role, i))
        return out

    def _restart(self, role: str, index: int) -> None:
        for attempt in range(5):  # a gateway's port may linger a moment after kill -9
            try:
                self.cluster.restart(role, index)
                return
            except RuntimeError as exc:
                if attempt == 4:
                    self.errors.append(f"restart {role}-{index}: {exc}")
                time.sleep(1)
