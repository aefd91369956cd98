"""The real `aws` CLI (awscli v1, default settings) against a real `cairn serve`.

Every command runs as a subprocess with only credentials, region, --endpoint-url (and
--no-verify-ssl over HTTPS) given; see conftest.AwsCli. Over HTTPS botocore sends payload
checksums in aws-chunked trailers; over HTTP it signs the payload. Every byte is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import AwsCli
from tests.conftest import make_client
from tests.server import CairnServer

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
PART = 8 * MiB  # awscli's default multipart_threshold and multipart_chunksize


# --------------------------------------------------------------------------- helpers


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def tree_md5(root: Path) -> dict[str, str]:
    """{relative posix path: md5} of every file under root."""
    out: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = md5_file(p)
    return out


def write_random(path: Path, size: int, chunk: int = 4 * MiB) -> tuple[str, str]:
    """Write `size` random bytes; return (md5, expected multipart ETag with 8 MiB parts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    whole = hashlib.md5()
    part_digests: list[bytes] = []
    part = hashlib.md5()
    in_part = 0
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(chunk, left, PART - in_part)
            data = os.urandom(n)
            f.write(data)
            whole.update(data)
            part.update(data)
            in_part += n
            left -= n
            if in_part == PART:
                part_digests.append(part.digest())
                part, in_part = hashlib.md5(), 0
    if in_part:
        part_digests.append(part.digest())
    if size < PART:
        etag = whole.hexdigest()
    else:
        etag = f"{hashlib.md5(b''.join(part_digests)).hexdigest()}-{len(part_digests)}"
    return whole.hexdigest(), etag


def make_tree(root: Path, count: int, seed: int, max_size: int = 64 * KiB) -> dict[str, str]:
    """A nested tree (3 levels) of `count` small random files; names with spaces and unicode."""
    rng = random.Random(seed)
    dirs = [
        "",
        "alpha",
        "beta dir",
        "gämma",
        "alpha/one",
        "alpha/two words",
        "beta dir/日本",
        "gämma/ñ sub",
        "alpha/one/deep",
        "alpha/two words/leaf ✓",
        "beta dir/日本/三",
        "gämma/ñ sub/zz top",
    ]
    stems = ["file", "my file", "naïve", "données", "файл", "報告", "plain_name", "a+b=c", "x~y"]
    exts = [".bin", ".txt", "", ".tar.gz", ".dat"]
    for i in range(count):
        d = rng.choice(dirs)
        name = f"{rng.choice(stems)} {i:03d}{rng.choice(exts)}"
        path = root / d / name if d else root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, max_size)))
        set_old_mtime(path)
    return tree_md5(root)


def set_old_mtime(path: Path, age: float = 3600.0) -> None:
    """Date a file in the past, on a whole second.

    aws s3 sync re-uploads when the local mtime is later than the object's LastModified, which
    S3 reports to the second; a file written in the same second as its upload would look newer.
    """
    t = int(time.time() - age)
    os.utime(path, (t, t))


def lines(out: str) -> list[str]:
    """stdout lines; progress output ('Completed ...\\r') is split off and dropped."""
    result = []
    for raw in out.replace("\r", "\n").split("\n"):
        line = raw.strip()
        if line and not line.startswith("Completed "):
            result.append(line)
    return result


def actions(out: str, verb: str) -> list[str]:
    """The targets of `upload:`/`download:`/`delete:` lines in aws s3 output."""
    prefix = f"{verb}: "
    found = []
    for line in lines(out):
        if line.startswith(prefix):
            rest = line[len(prefix) :]
            # "upload: SRC to DST" / "download: SRC to DST" / "delete: TARGET"
            found.append(rest.rsplit(" to ", 1)[-1] if " to " in rest else rest)
    return found


def ls_objects(aws: AwsCli, url: str) -> dict[str, int]:
    """`aws s3 ls --recursive URL` parsed to {key: size}."""
    proc = aws("s3", "ls", "--recursive", url, check=False)
    assert proc.returncode in (0, 1), proc.stderr  # 1: nothing matched
    assert "error" not in proc.stderr.lower(), proc.stderr
    out: dict[str, int] = {}
    for line in lines(proc.stdout):
        _date, _time, size, key = line.split(None, 3)
        out[key] = int(size)
    return out


def ls_buckets(aws: AwsCli) -> set[str]:
    proc = aws("s3", "ls")
    return {line.split(None, 2)[2] for line in lines(proc.stdout)}


def s3api(aws: AwsCli, *args: str) -> dict:
    proc = aws("s3api", *args)
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


# --------------------------------------------------------------------------- buckets


def test_mb_ls_rb(aws: AwsCli, tmp_path: Path):
    name = f"cli-mb-{os.urandom(6).hex()}"
    proc = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in proc.stdout
    assert name in ls_buckets(aws)

    # a non-empty bucket is not removed by rb, and is by rb --force
    f = tmp_path / "one.txt"
    f.write_bytes(b"hello")
    aws("s3", "cp", str(f), f"s3://{name}/dir/one.txt")
    proc = aws("s3", "rb", f"s3://{name}", check=False)
    assert proc.returncode != 0
    assert "BucketNotEmpty" in proc.stderr, proc.stderr
    proc = aws("s3", "rb", "--force", f"s3://{name}")
    assert f"remove_bucket: {name}" in proc.stdout
    assert name not in ls_buckets(aws)

    # an empty bucket goes with plain rb
    aws("s3", "mb", f"s3://{name}")
    proc = aws("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in proc.stdout
    assert name not in ls_buckets(aws)


# --------------------------------------------------------------------------- cp of small files

SMALL = {"empty": 0, "one": 1, "100k": 100 * KiB, "5m": 5 * MiB}


def test_cp_small_files(aws: AwsCli, aws_bucket: str, tmp_path: Path):
    up, down = tmp_path / "up", tmp_path / "down"
    md5s = {}
    for name, size in SMALL.items():
        md5s[name], _ = write_random(up / f"{name}.bin", size)
        proc = aws("s3", "cp", str(up / f"{name}.bin"), f"s3://{aws_bucket}/small/{name}.bin")
        assert actions(proc.stdout, "upload") == [f"s3://{aws_bucket}/small/{name}.bin"]

    assert ls_objects(aws, f"s3://{aws_bucket}") == {
        f"small/{name}.bin": size for name, size in SMALL.items()
    }
    assert lines(aws("s3", "ls", f"s3://{aws_bucket}").stdout) == ["PRE small/"]

    for name, size in SMALL.items():
        dst = down / f"{name}.bin"
        proc = aws("s3", "cp", f"s3://{aws_bucket}/small/{name}.bin", str(dst))
        assert [Path(p).resolve() for p in actions(proc.stdout, "download")] == [dst.resolve()]
        assert dst.stat().st_size == size
        assert md5_file(dst) == md5s[name], name

    # the ETag of a single-part upload is the MD5 of the bytes (checked with boto3: fewer
    # aws start-ups; s3api head-object is covered below)
    s3 = make_client(aws.server)
    for name in SMALL:
        head = s3.head_object(Bucket=aws_bucket, Key=f"small/{name}.bin")
        assert head["ContentLength"] == SMALL[name]
        assert head["ETag"] == f'"{md5s[name]}"'


# --------------------------------------------------------------------------- recursive trees


def test_cp_recursive_tree(aws: AwsCli, aws_bucket: str, tmp_path: Path):
    src, back = tmp_path / "src", tmp_path / "back"
    want = make_tree(src, 300, seed=300)
    assert len(want) == 300

    proc = aws("s3", "cp", "--recursive", str(src), f"s3://{aws_bucket}/tree", timeout=300)
    assert len(actions(proc.stdout, "upload")) == 300
    remote = ls_objects(aws, f"s3://{aws_bucket}/tree/")
    assert remote == {f"tree/{rel}": (src / rel).stat().st_size for rel in want}

    proc = aws("s3", "cp", "--recursive", f"s3://{aws_bucket}/tree", str(back), timeout=300)
    assert len(actions(proc.stdout, "download")) == 300
    assert tree_md5(back) == want


def test_sync(aws: AwsCli, aws_bucket: str, tmp_path: Path):
    src, down = tmp_path / "src", tmp_path / "down"
    want = make_tree(src, 60, seed=60)
    dest = f"s3://{aws_bucket}/synced"

    proc = aws("s3", "sync", str(src), dest)
    assert sorted(actions(proc.stdout, "upload")) == sorted(f"{dest}/{rel}" for rel in want)

    # nothing changed: nothing is uploaded
    proc = aws("s3", "sync", str(src), dest)
    assert actions(proc.stdout, "upload") == [], proc.stdout

    # one file changed: exactly that one is uploaded
    changed = sorted(want)[7]
    (src / changed).write_bytes(os.urandom((src / changed).stat().st_size + 1))
    set_old_mtime(src / changed, age=60)
    proc = aws("s3", "sync", str(src), dest)
    assert actions(proc.stdout, "upload") == [f"{dest}/{changed}"], proc.stdout
    proc = aws("s3", "sync", str(src), dest)
    assert actions(proc.stdout, "upload") == [], proc.stdout

    # deleted locally: sync leaves it; sync --delete removes it remotely and nothing else
    gone = sorted(want)[13]
    (src / gone).unlink()
    proc = aws("s3", "sync", str(src), dest)
    assert actions(proc.stdout, "delete") == []
    assert f"synced/{gone}" in ls_objects(aws, f"{dest}/")
    proc = aws("s3", "sync", "--delete", str(src), dest)
    assert actions(proc.stdout, "delete") == [f"{dest}/{gone}"], proc.stdout
    assert actions(proc.stdout, "upload") == []
    remote = ls_objects(aws, f"{dest}/")
    expect = tree_md5(src)
    assert remote == {f"synced/{rel}": (src / rel).stat().st_size for rel in expect}

    # sync down into an empty directory reproduces the tree
    down.mkdir()
    proc = aws("s3", "sync", dest, str(down))
    assert len(actions(proc.stdout, "download")) == len(expect)
    assert tree_md5(down) == expect
    proc = aws("s3", "sync", dest, str(down))
    assert actions(proc.stdout, "download") == [], proc.stdout


def test_rm(aws: AwsCli, aws_bucket: str, tmp_path: Path):
    src = tmp_path / "src"
    want = make_tree(src, 40, seed=40, max_size=4 * KiB)
    aws("s3", "cp", "--recursive", str(src), f"s3://{aws_bucket}/t")
    assert len(ls_objects(aws, f"s3://{aws_bucket}")) == 40

    victim = sorted(want)[5]
    proc = aws("s3", "rm", f"s3://{aws_bucket}/t/{victim}")
    assert actions(proc.stdout, "delete") == [f"s3://{aws_bucket}/t/{victim}"]
    remaining = ls_objects(aws, f"s3://{aws_bucket}")
    assert len(remaining) == 39 and f"t/{victim}" not in remaining

    proc = aws("s3", "rm", "--recursive", f"s3://{aws_bucket}/t")
    assert len(actions(proc.stdout, "delete")) == 39
    assert ls_objects(aws, f"s3://{aws_bucket}") == {}
    assert lines(aws("s3", "ls", f"s3://{aws_bucket}", check=False).stdout) == []


# --------------------------------------------------------------------------- s3api, presign


def test_s3api_metadata_and_range(aws: AwsCli, aws_bucket: str, tmp_path: Path):
    body = os.urandom(1000)
    src = tmp_path / "meta.bin"
    src.write_bytes(body)
    put = s3api(
        aws,
        "put-object",
        "--bucket",
        aws_bucket,
        "--key",
        "with meta/obj ü.bin",
        "--body",
        str(src),
        "--metadata",
        "color=blue,owner-name=Cairn Team",
        "--content-type",
        "application/x-cairn-test",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'

    head = s3api(aws, "head-object", "--bucket", aws_bucket, "--key", "with meta/obj ü.bin")
    assert head["ContentLength"] == 1000
    assert head["ContentType"] == "application/x-cairn-test"
    assert head["Metadata"] == {"color": "blue", "owner-name": "Cairn Team"}
    assert head["ETag"] == put["ETag"]

    out = tmp_path / "range.out"
    got = s3api(
        aws,
        "get-object",
        "--bucket",
        aws_bucket,
        "--key",
        "with meta/obj ü.bin",
        "--range",
        "bytes=10-19",
        str(out),
    )
    assert out.read_bytes() == body[10:20]
    assert got["ContentLength"] == 10
    assert got["ContentRange"] == "bytes 10-19/1000"
    assert got["ContentType"] == "application/x-cairn-test"
    assert got["Metadata"] == {"color": "blue", "owner-name": "Cairn Team"}

    full = tmp_path / "full.out"
    s3api(aws, "get-object", "--bucket", aws_bucket, "--key", "with meta/obj ü.bin", str(full))
    assert full.read_bytes() == body


def test_presign(aws: AwsCli, aws_bucket: str, tmp_path: Path):
    body = os.urandom(70 * KiB)
    src = tmp_path / "p.bin"
    src.write_bytes(body)
    for key in ("presigned.bin", "dir/with space ✓.bin"):
        aws("s3", "cp", str(src), f"s3://{aws_bucket}/{key}")
        url = aws("s3", "presign", f"s3://{aws_bucket}/{key}", "--expires-in", "300").stdout
        url = url.strip()
        assert url.startswith(aws.server.endpoint + "/"), url
        resp = httpx.get(url, verify=False, timeout=30)
        assert resp.status_code == 200, resp.text
        assert hashlib.md5(resp.content).hexdigest() == hashlib.md5(body).hexdigest()
        # the same URL with the signature altered is refused
        bad = url.replace("Signature=", "Signature=0", 1)
        assert httpx.get(bad, verify=False, timeout=30).status_code == 403


# --------------------------------------------------------------------------- multipart


@pytest.mark.parametrize("size", [20 * MiB, 100 * MiB], ids=["20MiB", "100MiB"])
def test_cp_multipart(aws: AwsCli, aws_bucket: str, tmp_path: Path, size: int):
    src, dst = tmp_path / "big.bin", tmp_path / "big.back"
    md5, etag = write_random(src, size)
    key = f"mp/big {size // MiB}.bin"

    t0 = time.monotonic()
    aws("s3", "cp", str(src), f"s3://{aws_bucket}/{key}", timeout=240)
    t_up = time.monotonic() - t0
    head = make_client(aws.server).head_object(Bucket=aws_bucket, Key=key)
    assert head["ContentLength"] == size
    # a multipart ETag: MD5 of the parts' MD5s, "-" and the part count (8 MiB parts)
    assert head["ETag"] == f'"{etag}"'

    t0 = time.monotonic()
    aws("s3", "cp", f"s3://{aws_bucket}/{key}", str(dst), timeout=240)
    t_down = time.monotonic() - t0
    assert dst.stat().st_size == size
    assert md5_file(dst) == md5
    print(
        f"\n[awscli {aws.server.endpoint.split(':')[0]}] {size // MiB} MiB: "
        f"upload {t_up:.2f}s, download {t_down:.2f}s"
    )


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon, RssFile... of /proc/<pid>/status, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


class RssSampler:
    """Samples the server's RSS (anon and file-backed) while a phase runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_anon = self.max_file = self.max_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                st = proc_status(self.pid)
            except OSError:
                return
            self.max_anon = max(self.max_anon, st.get("RssAnon", 0))
            self.max_file = max(self.max_file, st.get("RssFile", 0))
            self.max_rss = max(self.max_rss, st.get("VmRSS", 0))
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM (Linux >= 4.0: write 5 to clear_refs); False if not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@pytest.fixture
def private_cairn(private_server: CairnServer) -> Iterator[CairnServer]:
    yield private_server.start()


@pytest.mark.timeout(1800)
def test_cp_1gib_peak_rss(private_cairn: CairnServer, tmp_path: Path):
    """1 GiB up and down with aws s3 cp (128 parts of 8 MiB, 10 threads); server RSS bounded."""
    aws = AwsCli(private_cairn, tmp_path / "aws-home")
    assert private_cairn.proc is not None
    pid = private_cairn.proc.pid
    limit_kib = 300 * 1024
    bucket = "big-one"
    aws("s3", "mb", f"s3://{bucket}")
    src, dst = tmp_path / "gib.bin", tmp_path / "gib.back"
    md5, etag = write_random(src, GiB, chunk=8 * MiB)
    base = proc_status(pid)

    t0 = time.monotonic()
    with RssSampler(pid) as up_rss:
        aws("s3", "cp", str(src), f"s3://{bucket}/one gib.bin", timeout=1200)
    t_up = time.monotonic() - t0
    hwm_up = proc_status(pid)["VmHWM"]
    head = s3api(aws, "head-object", "--bucket", bucket, "--key", "one gib.bin")

    reset = reset_peak_rss(pid)
    t0 = time.monotonic()
    with RssSampler(pid) as down_rss:
        aws("s3", "cp", f"s3://{bucket}/one gib.bin", str(dst), timeout=1200)
    t_down = time.monotonic() - t0
    hwm_down = proc_status(pid)["VmHWM"]

    print(
        f"\n[awscli 1 GiB] upload {t_up:.1f}s ({GiB / MiB / t_up:.0f} MiB/s), "
        f"download {t_down:.1f}s ({GiB / MiB / t_down:.0f} MiB/s)\n"
        f"[server RSS] at start VmHWM {base['VmHWM'] // 1024} MiB; "
        f"upload: VmHWM {hwm_up // 1024} MiB (sampled max anon {up_rss.max_anon // 1024} MiB, "
        f"file {up_rss.max_file // 1024} MiB); "
        f"download: VmHWM {hwm_down // 1024} MiB{'' if reset else ' (cumulative)'} "
        f"(sampled max anon {down_rss.max_anon // 1024} MiB, file {down_rss.max_file // 1024} MiB)"
    )
    assert head["ContentLength"] == GiB
    assert head["ETag"] == f'"{etag}"'
    assert dst.stat().st_size == GiB
    assert md5_file(dst) == md5
    assert hwm_up < limit_kib, f"server peak RSS during upload {hwm_up // 1024} MiB"
    assert hwm_down < limit_kib, f"server peak RSS during download {hwm_down // 1024} MiB"
