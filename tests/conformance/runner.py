"""Run the Ceph S3 compatibility suite against a Cairn this process starts, and report.

    python -m tests.conformance [--suite DIR] [--target serve|cluster|etcd] [--only EXPR]
        [--junit FILE] [--check-ratchet FILE] [--write-passing FILE] [--write-owners FILE]

The suite directory is only read: it is copied into a temp dir, where pytest runs with its
cache off; the config (S3TEST_CONF), junit file and logs live in that temp dir too.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.conformance import groups
from tests.conformance.isolation import BUCKET_PREFIX
from tests.conformance.selection import EXCLUDED_NAMES, FILES, MARKER_EXPR

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITE = REPO.parent / "shared" / "s3-tests"
HERE = Path(__file__).resolve().parent
PASSING = HERE / "passing.txt"

# Users of the suite's config: main is the server's bootstrap user (its key from the
# environment); alt and tenant are real users made with `cairn admin user create`, and the
# config gets the ids, names and emails Cairn gave them.
# The suite's lifecycle tests count "days" of this many seconds (its lc_debug_interval);
# the server runs lifecycle with the same day (--lifecycle-day-seconds, a test option).
LC_DAY_SECONDS = 10
LC_DAY = ["--lifecycle-day-seconds", str(LC_DAY_SECONDS)]

MAIN_USER = ("cairn", "cairn", "main@example.com")  # the bootstrap user's id and name
OTHER_USERS = {
    "alt": ("cairn-alt", "alt@example.com"),
    "tenant": ("cairn-tenant", "tenant@example.com"),
}


@dataclass(frozen=True)
class SuiteUser:
    user_id: str
    display_name: str
    email: str
    access_key: str
    secret_key: str


@dataclass
class Outcome:
    test_id: str  # "test_s3.py::test_bucket_list_empty"
    result: str  # passed, failed, error, skipped
    message: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# Cairn targets


class Target:
    """A running Cairn: endpoint, its main key, how to make more keys, and stop()."""

    endpoint: str
    access_key: str
    secret_key: str
    meta: str  # the --meta spec `cairn admin` takes

    def stop(self) -> None:
        raise NotImplementedError

    def admin_where(self) -> list[str]:
        """How `cairn admin` finds this target's metadata and master key."""
        raise NotImplementedError

    def create_user(self, name: str, email: str) -> SuiteUser:
        """A real user with its first key (`cairn admin user create --json`)."""
        cmd = [sys.executable, "-m", "cairn.cli", "admin", *self.admin_where()]
        cmd += ["user", "create", name, "--email", email, "--json"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=self.admin_env())
        if done.returncode != 0:
            raise RuntimeError(f"cairn admin user create {name} failed:\n{done.stderr}")
        made = json.loads(done.stdout)
        return SuiteUser(
            made["user_id"], made["display_name"], made["email"],
            made["access_key"], made["secret_key"],
        )  # fmt: skip

    def create_kms_key(self, name: str) -> str:
        """A named SSE-KMS key (`cairn admin kms create`), for the suite's kms_keyid."""
        cmd = [sys.executable, "-m", "cairn.cli", "admin", *self.admin_where(), "kms", "create"]
        done = subprocess.run(
            [*cmd, name], capture_output=True, text=True, timeout=60, env=self.admin_env()
        )
        if done.returncode != 0:
            raise RuntimeError(f"cairn admin kms create {name} failed:\n{done.stderr}")
        return name

    def main_user(self) -> SuiteUser:
        user_id, name, email = MAIN_USER
        return SuiteUser(user_id, name, email, self.access_key, self.secret_key)

    def admin_env(self) -> dict[str, str]:
        return dict(os.environ)


class ServeTarget(Target):
    def __init__(self, work: Path, workers: int) -> None:
        from tests.server import CairnServer

        self.server = CairnServer(
            work / "data", workers=workers, extra_args=["--allow-ssec-over-http", *LC_DAY]
        ).start()
        self.endpoint = self.server.endpoint
        self.access_key, self.secret_key = self.server.access_key, self.server.secret_key
        self.meta = f"lmdb:{self.server.data / 'meta'}"
        self.log = self.server.log_path

    def admin_where(self) -> list[str]:
        return ["--data", str(self.server.data)]

    def stop(self) -> None:
        self.server.stop()


class ClusterTarget(Target):
    def __init__(self, work: Path, etcd: bool) -> None:
        from tests.cluster_util import CairnCluster

        extra = ["--allow-ssec-over-http", *(["--etcd", "3"] if etcd else []), *LC_DAY]
        self.cluster = CairnCluster(work / "cluster", nodes=4, gateways=1, extra_args=extra)
        self.cluster.start()
        self.endpoint = self.cluster.endpoints[0]
        self.access_key, self.secret_key = self.cluster.access_key, self.cluster.secret_key
        self.meta = self.cluster.info["meta"]
        self.log = work / "cluster" / "logs"

    def admin_where(self) -> list[str]:
        master = self.cluster.data / "master.key"  # made by `cairn cluster up`
        return ["--meta", self.meta, "--master-key-file", str(master)]

    def admin_env(self) -> dict[str, str]:
        return self.cluster._env()

    def stop(self) -> None:
        self.cluster.stop()


def start_target(kind: str, work: Path, workers: int) -> Target:
    if kind == "serve":
        return ServeTarget(work, workers)
    return ClusterTarget(work, etcd=kind == "etcd")


# ---------------------------------------------------------------------------------------
# The suite's config and run


KMS_KEYS = ("testkey-1", "testkey-2")  # the suite's kms_keyid and kms_keyid2


def write_config(
    path: Path, target: Target, users: dict[str, SuiteUser], kms: tuple[str, ...] = ()
) -> None:
    host_port = target.endpoint.split("://", 1)[1]
    host, port = host_port.rsplit(":", 1)
    cfg = configparser.RawConfigParser()
    cfg["DEFAULT"] = {"host": host, "port": port, "is_secure": "False", "ssl_verify": "False"}
    cfg["fixtures"] = {
        "bucket prefix": BUCKET_PREFIX,
        "iam name prefix": "s3-tests-",
        "iam path prefix": "/s3-tests/",
    }
    for role, user in users.items():
        section = {
            "display_name": user.display_name,
            "user_id": user.user_id,
            "email": user.email,
            "access_key": user.access_key,
            "secret_key": user.secret_key,
        }
        if role == "main":
            # No LocationConstraint: Cairn's region is us-east-1, which AWS names by none.
            section["api_name"] = ""
            section["lc_debug_interval"] = str(LC_DAY_SECONDS)
            if kms:
                section["kms_keyid"], section["kms_keyid2"] = kms[0], kms[1]
        if role == "tenant":
            section["tenant"] = "cairntenant"
        cfg[f"s3 {role}"] = section
    # The suite reads these sections unconditionally; their tests are not selected, and
    # these keys do not exist in Cairn.
    for name in ("iam", "iam root", "iam alt root"):
        cfg[name] = {
            "email": "iam@example.com",
            "user_id": "cairn-iam",
            "access_key": "CAIRNNOSUCHKEY" + name.replace(" ", "").upper()[:6],
            "secret_key": "unused-secret-key-0123456789abcdefghij",
            "display_name": "iam",
        }
    with open(path, "w") as f:
        cfg.write(f)


def copy_suite(suite: Path, dest: Path) -> Path:
    """A writable copy of the (possibly read-only) suite: pytest's rootdir and imports."""
    shutil.copytree(
        suite,
        dest,
        ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".tox", "*.pyc"),
        copy_function=shutil.copyfile,
    )
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            p = Path(root) / name
            p.chmod(
                p.stat().st_mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR * (name in dirs))
            )
    Path(dest).chmod(0o755)
    return dest


def suite_env(config: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3TEST"))}
    home.mkdir(parents=True, exist_ok=True)
    (home / "aws-config").write_text("")
    env.update(
        S3TEST_CONF=str(config),
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-config"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        # tests.conformance.isolation, loaded into the suite's pytest with -p
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    return env


def pytest_args(junit: Path, only: str | None, workers: int, timeout: int) -> list[str]:
    keyword = " and ".join(f"not {n}" for n in EXCLUDED_NAMES)
    if only:
        keyword = f"({keyword}) and ({only})"
    args = [sys.executable, "-m", "pytest", *FILES, "-m", MARKER_EXPR, "-k", keyword]
    args += ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:asyncio"]
    args += ["-p", "tests.conformance.isolation"]
    args += [f"--junitxml={junit}", "-o", "junit_family=xunit1", "-q", "-rN", "--tb=native"]
    args += ["--timeout", str(timeout)]
    if workers > 1:
        args += ["-n", str(workers)]
    return args


def parse_junit(path: Path) -> list[Outcome]:
    out: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        test_id = f"{module}.py::{case.get('name')}"
        result, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                result = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").strip().splitlines()[0:1]
                message = message[0][:160] if message else ""
                break
        prev = out.get(test_id)
        # A teardown error comes as a second testcase of the same test: the worse counts.
        if prev is None or (prev.result == "passed" and result != "passed"):
            out[test_id] = Outcome(test_id, result, message, float(case.get("time") or 0))
    return sorted(out.values(), key=lambda o: o.test_id)


# ---------------------------------------------------------------------------------------
# Reports


def table(outcomes: list[Outcome]) -> str:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        per[groups.group_of(o.test_id)][o.result] += 1
    cols = ("passed", "failed", "error", "skipped")
    lines = [f"{'group':<24}{'passed':>8}{'total':>7}{'failed':>8}{'error':>7}{'skipped':>9}"]
    lines.append("-" * len(lines[0]))
    total: Counter[str] = Counter()
    for group in groups.GROUP_ORDER:
        c = per.get(group)
        if not c:
            continue
        total.update(c)
        n = sum(c[k] for k in cols)
        lines.append(
            f"{group:<24}{c['passed']:>8}{n:>7}{c['failed']:>8}{c['error']:>7}{c['skipped']:>9}"
        )
    n = sum(total[k] for k in cols)
    lines.append("-" * len(lines[0]))
    lines.append(
        f"{'total':<24}{total['passed']:>8}{n:>7}{total['failed']:>8}"
        f"{total['error']:>7}{total['skipped']:>9}"
    )
    return "\n".join(lines)


def read_ids(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def write_passing(path: Path, outcomes: list[Outcome], target: str) -> None:
    ids = [o.test_id for o in outcomes if o.result == "passed"]
    head = (
        "# Tests of the Ceph S3 suite that pass against `cairn " + target + "` (the ratchet).\n"
        "# CI fails when one of them stops passing. Regenerate with\n"
        "#   python -m tests.conformance --write-passing tests/conformance/passing.txt\n"
        "# and review the diff: lines may be added, never dropped without a reason.\n"
    )
    path.write_text(head + "".join(f"{i}\n" for i in ids))


def write_owners(path: Path, outcomes: list[Outcome]) -> None:
    failing = [o for o in outcomes if o.result != "passed"]
    by_owner: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for o in failing:
        group, owner = groups.classify(o.test_id)
        by_owner[owner][group].append(o)
    order = [groups.ACCESS, groups.DATA_FEATURES, groups.ENC_CORS_ATTRS, groups.CORE]
    lines = [
        "# Who owns the failing conformance tests",
        "",
        "Generated by `python -m tests.conformance --write-owners tests/conformance/owners.md`",
        "from a run against `cairn serve`, by the name rules of tests/conformance/groups.py",
        "(first matching rule wins). A test in a feature group belongs to that feature's open",
        "issue; the rest are core conformance failures, ours to fix later. A core test that",
        "fails on a feature's NotImplemented (the message names the operation, e.g.",
        "PutBucketAcl or PutBucketVersioning) passes only once that feature lands.",
        "",
        "| owner | failing |",
        "| --- | ---: |",
    ]
    lines += [f"| {owner} | {sum(map(len, by_owner[owner].values()))} |" for owner in order]
    for owner in order:
        lines += ["", f"## {owner}"]
        for group in groups.GROUP_ORDER:
            tests = by_owner[owner].get(group)
            if not tests:
                continue
            lines += ["", f"### {group} ({len(tests)})", ""]
            for o in tests:
                note = f" ({o.result}: {o.message})" if o.message else f" ({o.result})"
                lines.append(f"- `{o.test_id}`{note.replace('|', '/')}")
    path.write_text("\n".join(lines) + "\n")


def check_ratchet(path: Path, outcomes: list[Outcome], only: str | None) -> int:
    listed = read_ids(path)
    by_id = {o.test_id: o for o in outcomes}
    broken = []
    for test_id in listed:
        o = by_id.get(test_id)
        if o is None:
            if only:  # --only ran a subset: the others were not run, not broken
                continue
            broken.append(f"{test_id}: not run (renamed, removed or deselected?)")
        elif o.result != "passed":
            broken.append(f"{test_id}: {o.result}: {o.message}")
    new = sorted(o.test_id for o in outcomes if o.result == "passed" and o.test_id not in listed)
    if new:
        print(f"\n{len(new)} test(s) pass that {path.name} does not list yet (add them):")
        for t in new:
            print(f"  {t}")
    if broken:
        print(f"\nRATCHET FAILED: {len(broken)} test(s) listed in {path} no longer pass:")
        for b in broken:
            print(f"  {b}")
        return 1
    print(f"\nratchet ok: all {len(listed)} listed tests pass")
    return 0


# ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Run the Ceph S3 compatibility suite against a Cairn started here.",
    )
    p.add_argument("--suite", type=Path, default=DEFAULT_SUITE, help="the s3-tests checkout")
    p.add_argument("--target", choices=("serve", "cluster", "etcd"), default="serve")
    p.add_argument("--only", help="a pytest -k expression to run a subset")
    p.add_argument("--junit", type=Path, help="also keep the junit XML here")
    p.add_argument("--check-ratchet", type=Path, metavar="FILE", help="fail if a listed test fails")
    p.add_argument("--write-passing", type=Path, metavar="FILE", help="write the passing ids")
    p.add_argument("--write-owners", type=Path, metavar="FILE", help="write owners of failures")
    p.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (2)")
    p.add_argument("--server-workers", type=int, default=1, help="cairn serve --workers")
    p.add_argument("--timeout", type=int, default=120, help="per-test timeout, seconds")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    suite = args.suite.resolve()
    if not (suite / FILES[0]).is_file():
        print(f"no Ceph s3-tests at {suite} (give --suite DIR)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cairn-conformance-"))
    started = time.monotonic()
    target: Target | None = None
    try:
        copy = copy_suite(suite, work / "s3-tests")
        target = start_target(args.target, work, args.server_workers)
        users = {"main": target.main_user()}
        for role, (name, email) in OTHER_USERS.items():
            users[role] = target.create_user(name, email)
        config = work / "s3tests.conf"
        kms = tuple(target.create_kms_key(name) for name in KMS_KEYS)
        write_config(config, target, users, kms)
        junit = work / "junit.xml"
        log = work / "pytest.log"
        cmd = pytest_args(junit, args.only, args.workers, args.timeout)
        print(f"conformance: {suite} against cairn {args.target} at {target.endpoint}")
        print(f"conformance: pytest log {log}" + ("" if args.keep else " (removed at the end)"))
        with open(log, "wb") as f:
            proc = subprocess.Popen(
                cmd,
                cwd=copy,
                env=suite_env(config, work / "home"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                f.write(line)
                if args.verbose:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
            rc = proc.wait()
        tail = log.read_text(errors="replace").strip().splitlines()[-1:]
        print(f"conformance: pytest exited {rc}: {tail[0] if tail else ''}")
        if rc not in (0, 1) or not junit.exists():
            print(log.read_text(errors="replace")[-6000:])
            return 2
        if args.junit:
            args.junit.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(junit, args.junit)
        outcomes = parse_junit(junit)
        elapsed = time.monotonic() - started
        print()
        print(table(outcomes))
        print(f"\n{len(outcomes)} tests in {elapsed:.0f}s")
        slow = sorted(outcomes, key=lambda o: -o.seconds)[:5]
        print("slowest: " + ", ".join(f"{o.test_id.split('::')[1]} {o.seconds:.1f}s" for o in slow))
        if args.write_passing:
            write_passing(args.write_passing, outcomes, args.target)
            print(f"wrote {args.write_passing}")
        if args.write_owners:
            write_owners(args.write_owners, outcomes)
            print(f"wrote {args.write_owners}")
        if args.check_ratchet:
            return check_ratchet(args.check_ratchet, outcomes, args.only)
        return 0
    finally:
        if target is not None:
            target.stop()
        if args.keep:
            print(f"conformance: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
