"""Blocks across many stores: placement, replicated reads and writes, membership, repair."""
