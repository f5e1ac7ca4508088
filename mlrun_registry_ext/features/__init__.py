"""Tier 3: features and integrations (Python API, MLRun and Nuclio hooks, doctor, migrate, credentials)."""
