"""Fault tests: real `cairn node` / `cairn gateway` / `cairn serve` processes killed with -9."""
