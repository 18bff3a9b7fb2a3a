"""Maintainer tooling, run with ``python -m qa.tools.<name>``: the benchmark table (``bench``),
the mixed load test (``loadtest``), CPU variants side by side (``speedups``), and a server in a
child process for tests and benchmarks (``devserver``). Nothing in the core imports it."""
