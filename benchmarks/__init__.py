"""Load benchmark for sentry-notion: `uv run python -m benchmarks.load --help`."""
