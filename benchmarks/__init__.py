"""tumble's benchmarks: ``python -m benchmarks.all [--quick]`` runs them all (see docs/benchmarks.md)."""
