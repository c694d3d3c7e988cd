"""Client libraries that speak Casebook's APIs (used by tests, benchmarks and scripts)."""
