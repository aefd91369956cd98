"""What each scenario sends, and how its figures are named; shared by run.py and report.py."""

from __future__ import annotations

from dataclasses import dataclass

KiB, MiB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Row:
    """One reported line: a figure per target, medians over rounds, ratios to references."""

    name: str
    unit: str  # unit of the main figure
    higher_is_better: bool
    per: str  # unit of server CPU: "1k ops" or "GB"


ROWS = {
    "put-small": Row("put-small", "ops/s", True, "1k ops"),
    "get-small": Row("get-small", "ops/s", True, "1k ops"),
    "put-large": Row("put-large", "MB/s", True, "GB"),
    "get-large": Row("get-large", "MB/s", True, "GB"),
    "list": Row("list", "pages/s", True, "1k ops"),
    "mixed": Row("mixed", "ops/s", True, "1k ops"),
    "cp-up": Row("cp-up", "s (less=better)", False, "GB"),
    "cp-down": Row("cp-down", "s (less=better)", False, "GB"),
    # "policy": small-object PUT/GET on a bucket without a policy and on one with a
    # 20-statement bucket policy, interleaved in every round on the same server.
    "put-bare": Row("put-bare", "ops/s", True, "1k ops"),
    "put-pol20": Row("put-pol20", "ops/s", True, "1k ops"),
    "get-bare": Row("get-bare", "ops/s", True, "1k ops"),
    "get-pol20": Row("get-pol20", "ops/s", True, "1k ops"),
    # "versioning": small-object PUT on an unversioned bucket, a versioned one and one with
    # object lock and a default retention, back to back in every round on the same server.
    "put-unversioned": Row("put-unversioned", "ops/s", True, "1k ops"),
    "put-versioned": Row("put-versioned", "ops/s", True, "1k ops"),
    "put-locked": Row("put-locked", "ops/s", True, "1k ops"),
    # "sse": 64 MiB PUT/GET on a plaintext bucket and on one whose default encryption is
    # SSE-S3, interleaved in every round on the same server (issue 17).
    "put-large-plain": Row("put-large-plain", "MB/s", True, "GB"),
    "put-large-sse": Row("put-large-sse", "MB/s", True, "GB"),
    "get-large-plain": Row("get-large-plain", "MB/s", True, "GB"),
    "get-large-sse": Row("get-large-sse", "MB/s", True, "GB"),
}
# The cost of encryption at rest: SSE-S3 rows against plaintext rows, Cairn only (issue
# 17: "within 25% of plaintext").
SSE_PAIRS = [("put-large-sse", "put-large-plain"), ("get-large-sse", "get-large-plain")]
SSE_GOAL = 0.75
# The cost of authorization: the policy rows against the bare rows, Cairn only (issue 15:
# "within 10%"); report.py prints the medians of the per-round ratios.
POLICY_PAIRS = [("put-pol20", "put-bare"), ("get-pol20", "get-bare")]
POLICY_GOAL = 0.9
# Versioning's cost on PUT (issue 16 asks for the figure, with no goal): reported as ratios.
VERSIONING_PAIRS = [("put-versioned", "put-unversioned"), ("put-locked", "put-unversioned")]
# Scenario names on the command line; "cp" produces the two rows cp-up and cp-down.
SCENARIOS = ["put-small", "get-small", "put-large", "get-large", "list", "mixed", "cp"]
# Run only when named (--scenarios policy): it needs PutBucketPolicy (issue 15).
OPT_IN_SCENARIOS = ["policy", "versioning", "sse"]
# The floor implements no listing and no multipart upload (aws s3 cp needs both): "-".
UNSUPPORTED = {
    "floor": {"list", "cp", "policy", "versioning", "sse"},
    "moto": {"policy", "versioning", "sse"},
}


@dataclass(frozen=True)
class Settings:
    """Sizes and durations; --quick shrinks rounds, datasets and the cp file."""

    rounds: int
    duration: float  # seconds per measured round (small objects, list, mixed)
    large_duration: float  # seconds per round for 64 MiB objects (each op takes ~1 s)
    small_size: int = 4 * KiB
    small_inflight: int = 32
    small_objects: int = 1000  # preloaded for get-small
    large_size: int = 64 * MiB
    large_inflight: int = 4
    large_objects: int = 4  # preloaded for get-large
    mixed_size: int = 64 * KiB
    mixed_inflight: int = 32
    mixed_objects: int = 500
    list_keys: int = 10_000
    list_page: int = 1000
    list_inflight: int = 4
    cp_size: int = 1024 * MiB
    cp_rounds: int = 2
    cp_timeout: float = 900.0


FULL = Settings(rounds=3, duration=5.0, large_duration=8.0)
QUICK = Settings(
    rounds=2,
    duration=1.0,
    large_duration=2.0,
    small_objects=300,
    mixed_objects=200,
    list_keys=2000,
    cp_size=256 * MiB,
    cp_rounds=1,
    cp_timeout=300.0,
)

# (row, reference, kind, threshold). kind: "ratio>=" on Cairn/ref of the main figure,
# "time<=" on Cairn's time / ref's time, "speedup>=" on ref's time / Cairn's time.
TARGETS: list[tuple[str, str, str, float]] = [
    ("put-small", "moto", "ratio>=", 8),
    ("put-small", "floor", "ratio>=", 0.5),
    ("get-small", "moto", "ratio>=", 12),
    ("get-small", "floor", "ratio>=", 0.25),
    ("put-large", "moto", "ratio>=", 1.8),
    ("put-large", "floor", "ratio>=", 0.9),
    ("get-large", "moto", "ratio>=", 1.2),
    ("get-large", "floor", "ratio>=", 0.75),
    ("mixed", "moto", "ratio>=", 8),
    ("mixed", "floor", "ratio>=", 0.4),
    ("list", "moto", "ratio>=", 17),
    ("cp-up", "moto", "time<=", 0.65),
    ("cp-down", "moto", "speedup>=", 20),
]
RSS_LIMIT_MIB = 300.0
PUT_LARGE_CPU_PER_GB = 3.0
