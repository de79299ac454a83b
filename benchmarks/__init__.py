"""On-demand benchmarks (not run by pytest): ``python -m benchmarks [name ...]``."""
