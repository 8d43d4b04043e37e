"""Benchmarks that drive a real `afinidad serve` process on SQLite and PostgreSQL (`python benchmarks/NAME.py`)."""
