"""Benchmark protocols declared as data (one YAML file per protocol)."""
