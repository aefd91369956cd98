"""The Ceph S3 compatibility suite against a real Cairn: `python -m tests.conformance`.

No test_*.py here: the default `pytest` run does not collect this package; it runs the
external suite in a subprocess (see runner.py, SELECTION.md).
"""
