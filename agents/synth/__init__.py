"""The seeded synthetic campaign: a collector for demos, tests and benchmarks."""
