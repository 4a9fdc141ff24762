"""The benchmark anyone can run: `make bench SCALE=small` (see README, docs/performance.md)."""
