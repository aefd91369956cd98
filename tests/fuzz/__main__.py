"""Run one harness over its committed corpus: ``python -m tests.fuzz --target NAME --runs N``.

New inputs the fuzzer finds go to a scratch corpus (``--work``, default a temporary
directory), never into the committed one; a crashing input is written there too and its
path printed. The exit status is the harness's: 0 when no crash was found.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
TARGETS = ("sigv4", "sigv2", "chunked", "xml", "headers", "routing")


def command(target: str, runs: int, work: Path) -> list[str]:
    """The harness's command line: scratch corpus first (libFuzzer writes there)."""
    return [
        sys.executable,
        "-m",
        f"tests.fuzz.fuzz_{target}",
        f"-atheris_runs={runs}",
        f"-artifact_prefix={work}/",
        "-print_final_stats=1",
        str(work / "corpus"),
        str(HERE / "corpus" / target),
    ]


def run(target: str, runs: int, work: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``target`` for ``runs`` executions; stdout and stderr are captured together."""
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as scratch:
        folder = work or Path(scratch)
        (folder / "corpus").mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            command(target, runs, folder),
            cwd=HERE.parent.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--work", type=Path, help="keep the scratch corpus and crashes here")
    args = parser.parse_args()
    result = run(args.target, args.runs, args.work)
    print(result.stdout[-4000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
