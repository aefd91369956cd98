"""CI smoke of the atheris harnesses: each runs 10,000 executions over its committed
corpus (tests/fuzz/corpus/<target>) and must find no crash. The long runs (1,000,000
executions each) and their results are in docs/fuzzing.md."""

from __future__ import annotations

import pytest

from tests.fuzz.__main__ import TARGETS, run

RUNS = 10_000


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target", TARGETS)
def test_harness_finds_no_crash_in_a_short_run(target: str) -> None:
    result = run(target, RUNS)
    tail = result.stdout[-3000:]
    assert result.returncode == 0, tail
    assert f"Done {RUNS} " in result.stdout, tail
