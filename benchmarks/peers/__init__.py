"""Peer implementations measured against the worker on the same pre-loaded topic.

Each is a runnable module started as a child process by ``benchmarks.sections.throughput``:
``naive_faust`` (a Faust agent: one Redis script call and one produce per event) and
``quix_peer`` (Quix Streams with the per-customer aggregates in its RocksDB state).
"""
