"""Tier 2: clients of outside systems (registry HTTP, Kubernetes, AWS, the MLRun/Nuclio platform probe)."""
