"""atheris fuzz harnesses for Cairn's request parsers (issue 14, docs/fuzzing.md).

Each ``fuzz_<target>.py`` is runnable as ``python -m tests.fuzz.fuzz_<target> [libFuzzer
flags] [corpus dirs]``; ``python -m tests.fuzz --target NAME --runs N`` runs one over its
committed corpus in ``tests/fuzz/corpus/<target>/``.
"""
