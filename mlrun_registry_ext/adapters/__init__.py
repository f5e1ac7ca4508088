"""Thin adapters around the core: each talks to one outside system (MLRun, Nuclio, k8s, AWS, registries)."""
