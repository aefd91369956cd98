"""One trial: a cluster shaped by the seed, the workload and the nemesis together for a
few seconds, then heal, read every key back, and check history and final state."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cairn.launcher import _is_ours
from meta.records import now_ms
from tests.chaos import netns
from tests.chaos.checker import Anomaly, FinalState, check_final, check_history
from tests.chaos.fsck import blocks_of, node_holdings, ref_states
from tests.chaos.history import ABSENT, Kind, Outcome
from tests.chaos.nemesis import Nemesis, children
from tests.chaos.netns import NodeLink, NodeLinks
from tests.chaos.workload import BUCKET, SIZES, Workload, s3_client
from tests.cluster_util import CairnCluster

FAULTS = (
    "kill-node", "kill-gateway", "kill-etcd-leader", "kill-etcd-follower", "kill-meta-leader",
    "pause-node", "pause-gateway", "pause-meta-leader", "partition-node", "isolate-node",
    "disk-full",
)  # fmt: skip
NETWORK_FAULTS = ("partition-node", "isolate-node")  # need node namespaces (root)
DISK_MB = 192  # the tmpfs of the node whose disk the nemesis fills
GC_GRACE = 2.0  # seconds: short, so GC runs (and races dedup) during the faults


@dataclass(frozen=True)
class Shape:
    """The cluster a seed draws."""

    nodes: int
    replicas: int
    write_quorum: int
    zones: int
    gateways: int

    @classmethod
    def of(cls, seed: int) -> Shape:
        rng = random.Random(seed)
        nodes = rng.randint(3, 5)
        replicas = rng.choice((2, 3))
        write_quorum = rng.randint(max(1, replicas - 1), replicas)
        zones = rng.choice((0, 0, 2, 3))
        return cls(nodes, replicas, write_quorum, zones, gateways=2)


@dataclass
class TrialResult:
    seed: int
    shape: Shape
    seconds: float = 0.0
    ops: int = 0
    acked_writes: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the harness's, not the product's
    nemesis_log: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase
    notes: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # only when an anomaly was found


def run_trial(
    seed: int,
    seconds: float = 8.0,
    root: Path | None = None,
    faults: tuple[str, ...] = FAULTS,
    keep_logs: Path | None = None,
) -> TrialResult:
    """Run trial `seed`; a cluster that cannot start is an error of the trial, not an
    anomaly (the report lists both). With ``keep_logs``, an anomalous or failed trial's
    process logs are kept there (the trial's directory is removed either way)."""
    shape = Shape.of(seed)
    result = TrialResult(seed, shape)
    started = time.monotonic()
    data = Path(tempfile.mkdtemp(prefix=f"chaos-{seed}-", dir=root))
    small = data / "c" / f"node-{random.Random(seed).randrange(shape.nodes)}"
    try:
        with contextlib.ExitStack() as stack:
            links = _node_links(stack, shape, faults, result)
            if links is None:
                faults = tuple(f for f in faults if f not in NETWORK_FAULTS)
            if not mount_small_disk(small, DISK_MB):
                faults = tuple(f for f in faults if f != "disk-full")
                result.notes.append("no tmpfs (not root?): no disk-full faults")
            stack.callback(unmount, small)
            cluster = CairnCluster(
                data / "c", nodes=shape.nodes, gateways=shape.gateways, replicas=shape.replicas,
                write_quorum=shape.write_quorum, extra_args=_cluster_args(shape, links),
            )  # fmt: skip
            stack.callback(_down, cluster, result)  # before the links and the disk go
            cluster.start()
            result.phases["up"] = time.monotonic() - started
            node_links = dict(enumerate(links.links)) if links else {}
            disks = {int(small.name[5:]): small}
            _exercise(cluster, seed, seconds, result, faults, node_links, disks)
    except Exception as exc:  # noqa: BLE001 - recorded in the report
        said = getattr(exc, "stderr", None) or b""  # `cluster up`'s reason, when it failed
        result.errors.append(f"{type(exc).__name__}: {exc} {said[-300:].decode(errors='replace')}")
    finally:
        keep_trial_logs(data / "c" / "logs", result, keep_logs)
        shutil.rmtree(data, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def keep_trial_logs(logs: Path, result: TrialResult, keep: Path | None) -> Path | None:
    """Copy an anomalous or failed trial's logs to keep/seed-N: a seed reproduces the fault
    schedule, not the interleaving, so these logs may be all there is to go on."""
    if keep is None or not (result.anomalies or result.errors) or not logs.is_dir():
        return None
    target = keep / f"seed-{result.seed}"
    shutil.copytree(logs, target, dirs_exist_ok=True)
    return target


def _node_links(
    stack: contextlib.ExitStack, shape: Shape, faults: tuple[str, ...], result: TrialResult
) -> NodeLinks | None:
    """A network namespace per node when the trial's faults include a partition and this
    machine allows it (root); None otherwise (then no partitions, said in the notes)."""
    if not set(faults) & set(NETWORK_FAULTS):
        return None
    if not netns.available():
        result.notes.append("no network namespaces (not root?): no partition faults")
        return None
    return stack.enter_context(NodeLinks(shape.nodes))


def _down(cluster: CairnCluster, result: TrialResult) -> None:
    mark = time.monotonic()
    teardown(cluster)
    result.phases["down"] = time.monotonic() - mark


def mount_small_disk(path: Path, megabytes: int) -> bool:
    """A small tmpfs as the node's data directory, which the nemesis can fill; False (no
    disk-full faults in this trial, said in its notes) where mounting is not allowed."""
    path.mkdir(parents=True, mode=0o700)
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
    )  # fmt: skip
    return got.returncode == 0


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def teardown(cluster: CairnCluster) -> None:
    """SIGKILL every process of the cluster (the data goes away with it): a clean stop
    takes seconds per role, which a campaign of hundreds of trials cannot spend."""
    pids = []
    for proc in cluster.info.get("processes", []):
        pid = int(proc["pid"])
        if _is_ours(pid):
            pids += [*children(pid), pid]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for child in cluster._children.values():
        child.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_is_ours(p) for p in pids):
        time.sleep(0.05)
    (cluster.data / "cluster.json").unlink(missing_ok=True)


def _cluster_args(shape: Shape, links: NodeLinks | None) -> list[str]:
    return [
        *(["--node-netns", links.spec()] if links else []),
        "--etcd", "3", "--meta-services", "2", "--zones", str(shape.zones),
        "--gc-grace", str(GC_GRACE), "--gc-interval", "1", "--repair-interval", "2",
        "--node-grace", "3", "--upload-expiry", "30",
    ]  # fmt: skip


def _exercise(
    cluster: CairnCluster,
    seed: int,
    seconds: float,
    result: TrialResult,
    faults: tuple[str, ...],
    links: dict[int, NodeLink],
    disks: dict[int, Path],
) -> None:
    rng = random.Random(seed)
    work = Workload(
        cluster.endpoints, cluster.access_key, cluster.secret_key, seed,
        keys=[f"k{i:02d}" for i in range(12)], sources=[f"src{i}" for i in range(3)],
    )  # fmt: skip
    s3 = s3_client(cluster.endpoints[0], cluster.access_key, cluster.secret_key, timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    for i, key in enumerate(work.sources):
        value = work.new_value(key, SIZES[i % len(SIZES)])
        for _ in range(20):  # the gateways may not have probed every node yet
            if work.put(-1, s3, key, value) is Outcome.OK:
                break
            time.sleep(0.5)
        else:
            notes = [o.note for o in work.history.ops if o.key == key]
            raise RuntimeError(f"the copy source {key} could not be written: {notes[-3:]}")
        work.source_values[key] = value.ident
    nemesis = Nemesis(cluster, random.Random(rng.random()), faults, links, disks)
    mark = time.monotonic()
    work.start(threads=4)
    nemesis.start()
    time.sleep(seconds)
    nemesis.stop()  # heals its last fault
    work.stop()
    result.phases["faults"] = time.monotonic() - mark
    result.faults = dict(nemesis.faults)
    result.nemesis_log = nemesis.log
    result.errors += nemesis.errors
    result.anomalies += [
        Anomaly("process-crash", role, f"{n} {role} process(es) died without being killed")
        for role, n in sorted(nemesis.crashes.items())
    ]
    if nemesis.split_brain:
        result.anomalies.append(
            Anomaly("two-meta-leaders", "meta", f"{nemesis.split_brain} time(s) after a pause")
        )
    mark = time.monotonic()
    _final_reads(work, s3)
    result.phases["final_reads"] = time.monotonic() - mark
    ops = work.history.ops
    result.ops = len(ops)
    result.acked_writes = sum(o.kind is Kind.WRITE and o.outcome is Outcome.OK for o in ops)
    mark = time.monotonic()
    final = _final_state(cluster, work, s3)
    result.phases["final_state"] = time.monotonic() - mark
    result.anomalies += check_history(work.history.ops) + final
    if result.anomalies:  # kept in the report, to study the anomaly
        result.history = [op.to_dict() for op in work.history.ops]


def _final_reads(work: Workload, s3, deadline: float = 30.0) -> None:
    """Read every key until each read gets a definite answer: part of the history."""
    end = time.monotonic() + deadline
    for key in work.keys + work.sources:
        while work.get(-2, s3, key) is not Outcome.OK and time.monotonic() < end:
            time.sleep(0.5)


def _final_state(
    cluster: CairnCluster, work: Workload, s3, deadline: float = 30.0
) -> list[Anomaly]:
    """Once housekeeping has had time: listing == live keys, R copies, no orphans. Polled
    until it holds or the deadline passes (then the last look's anomalies count). A key
    whose listing disagrees with its last read is read again: a write whose outcome was
    unknown may land late (a gateway that was paused mid-commit), and that new read goes
    into the history the checker judges afterwards."""
    _abort_uploads(s3)
    urls = [f"http://{p['address']}" for p in cluster.processes("node")]  # as registered
    secret = (cluster.data / "cluster-secret").read_text().strip()
    end = time.monotonic() + deadline
    while True:
        live = _live_keys(work)
        referenced = frozenset().union(*(blocks_of(work.values[v]) for v in live.values()))
        listed = frozenset(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
        copies = node_holdings(urls, secret)
        unreferenced = set(copies) - referenced
        refs = ref_states(cluster.info["meta"], unreferenced) if unreferenced else {}
        state = FinalState(
            listed, frozenset(live), cluster.replicas, copies, referenced, refs, now_ms()
        )
        anomalies = check_final(state)
        if not anomalies or time.monotonic() > end:
            return anomalies
        for key in sorted(listed ^ set(live)):
            work.get(-2, s3, key)
        time.sleep(1.0)


def _live_keys(work: Workload) -> dict[str, str]:
    """Key -> the value its last final read found, for keys found present."""
    last: dict[str, str | None] = {}
    for op in work.history.ops:
        if op.process == -2 and op.outcome is Outcome.OK:
            last[op.key] = op.value
    return {k: v for k, v in last.items() if v not in (None, ABSENT)}


def _abort_uploads(s3) -> None:
    for upload in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        with contextlib.suppress(Exception):  # housekeeping expires it otherwise
            s3.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
