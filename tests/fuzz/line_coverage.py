"""Line coverage of a harness's target modules over a corpus (stdlib ``trace``, no
dependency): ``python -m tests.fuzz.line_coverage --target sigv4 [DIR ...]``.

Replays every input of the committed corpus (and any DIR given, e.g. a scratch corpus
of a long run) through the harness once and prints, per target module, the executable
lines run. Inputs that crash are reported, not counted.
"""

from __future__ import annotations

import argparse
import importlib
import trace
import types
from pathlib import Path

from tests.fuzz.__main__ import HERE, TARGETS

# The modules each harness is about (what "coverage" means in docs/fuzzing.md).
MODULES = {
    "sigv4": ["gateway/auth/verify.py", "gateway/auth/sigv4.py"],
    "sigv2": ["gateway/auth/verify.py", "gateway/auth/sigv2.py"],
    "chunked": ["gateway/auth/chunked.py"],
    "xml": ["gateway/wire/xml.py", "gateway/wire/multipart.py", "gateway/wire/multi_delete.py"],
    "headers": ["gateway/wire/headers.py", "gateway/auth/body.py"],
    "routing": ["gateway/routing.py"],
}


def _function_lines(filename: str) -> set[int]:
    """Lines inside functions: module-level lines (tables, imports) run at import, before
    tracing starts, so counting them would understate what the inputs reach."""
    lines: set[int] = set()
    pending = [
        c
        for c in compile(Path(filename).read_text(), filename, "exec").co_consts
        if isinstance(c, types.CodeType)
    ]
    while pending:
        code = pending.pop()
        lines.update(line for _, _, line in code.co_lines() if line is not None)
        pending += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("dirs", nargs="*", type=Path)
    args = parser.parse_args()
    harness = importlib.import_module(f"tests.fuzz.fuzz_{args.target}")
    tracer = trace.Trace(count=1, trace=0)
    inputs = [p for d in [HERE / "corpus" / args.target, *args.dirs] for p in d.iterdir()]
    crashed = 0
    for path in inputs:
        try:
            tracer.runfunc(harness.test_one_input, path.read_bytes())
        except Exception:  # noqa: BLE001 - a crash is reported, not fatal here
            crashed += 1
    counts = tracer.results().counts
    root = HERE.parent.parent
    print(f"{args.target}: {len(inputs)} inputs, {crashed} crashed")
    for module in MODULES[args.target]:
        filename = str(root / module)
        executable = _function_lines(filename)
        run = {line for (name, line) in counts if name == filename} & executable
        print(
            f"  {module}: {len(run)}/{len(executable)} lines ({100 * len(run) // len(executable)}%)"
        )


if __name__ == "__main__":
    main()
