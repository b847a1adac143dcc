"""Benchmark sections; each has ``async run(bench, args) -> list[Table]``."""
