"""A pytest plugin the runner loads into the Ceph suite's run (`-p tests.conformance.isolation`).

The suite names every bucket of a process with one random prefix, and before and after
each test deletes all buckets with that prefix. Once a test leaves a bucket that the
server will not delete (a Cairn failure), every later test of that process errors in its
setup, whatever it tests: one failure hides hundreds of results. Here each test gets a
prefix of its own, so a leftover fails only the test that left it (in its teardown).
"""

from __future__ import annotations

import pytest

# The "bucket prefix" template the runner writes into the suite's config.
BUCKET_PREFIX = "cairn-{random}-"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    import s3tests.functional as suite

    if suite.prefix is not None:  # set by the suite's configure(), on its first test
        suite.prefix = suite.choose_bucket_prefix(template=BUCKET_PREFIX)
