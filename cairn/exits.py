"""Exit statuses of the `cairn` command, one per kind of mistake, so that a script (or a
person reading `echo $?`) can tell them apart without parsing messages.

A mistake is raised as `CairnExit(code, message)` anywhere below `cairn/cli.py::main`,
which prints `cairn: MESSAGE` on one line (no traceback) and exits with `code`. The table
is in docs/operations.md ("Exit statuses"); keep the two in step.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    REFUSED = 1  # the request is wrong: no such node, user or key; a bad value
    USAGE = 2  # argparse: unknown option, missing argument
    META_UNREACHABLE = 3  # the metadata store does not answer (etcd down, wrong address)
    NO_METADATA = 4  # --meta lmdb:DIR / --data DIR holds no Cairn metadata
    NOT_WRITABLE = 5  # the data directory cannot be written
    PORT_IN_USE = 6  # a port to listen on is taken
    MISSING_BLOCKS = 7  # fsck: some block has no copy at all
    UNDER_REPLICATED = 8  # fsck: every block has a copy, some fewer than R
    WORKER_FAILED = 9  # a server's worker could not start (its reason is printed)
    CLUSTER_REFUSED = 10  # cluster up: the directory cannot be (re)started as asked


class CairnExit(Exception):
    """A mistake the operator must fix: printed as one line, no traceback."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
