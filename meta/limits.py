"""How much of a change one metadata transaction carries, and how long a conflicting
write keeps trying: one place for the numbers that keep every transaction of the record
layer within the KV interface's limits (meta.api.MAX_TXN_OPS, i.e. etcd's defaults)."""

from __future__ import annotations

# One transaction changes at most BATCH reference records (a compare, a put and perhaps a
# GC-queue put each) plus a few records of its own: well inside etcd's 128 operations.
BATCH = 32
# Block-list pages a commit carries beside the head; more are written ahead (meta.journal).
PAGES_IN_COMMIT = 4
# Block-list pages are ~45 KiB each (1,024 refs): this many stay far below 1.5 MiB.
PAGES_PER_TXN = 16
# Plain deletes (pages, part records) per transaction.
DELETES_PER_TXN = 96
# Attempts of a write whose compares keep failing because others change the same records.
MAX_RETRIES = 64
