"""Benchmark data: the offline asset files, the hub, local files."""
