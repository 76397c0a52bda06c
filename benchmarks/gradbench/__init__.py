"""A GradBench tool for adflow: ``python -m benchmarks.gradbench`` (see docs/gradbench.md)."""
