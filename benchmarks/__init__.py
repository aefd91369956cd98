"""Cairn benchmark: a low-overhead S3 load generator run against Cairn, moto and a floor app.

`python -m benchmarks.run --help`; see docs/performance.md.
"""
