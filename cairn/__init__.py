"""The composition root: the `cairn` command and the processes it runs.

The only package that imports all of `gateway` (S3), `blockstore` (blocks, nodes and the
cluster's block logic) and `meta` (records over a KV) and wires them together.
"""
