"""Benchmarks of the gate: latency against baselines, fleet scale, black-holed targets. Run: python -m bench."""
