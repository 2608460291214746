"""Orchestration and entry points: the pipeline steps, the Prefect flows and deployments,
the CLI and the demo. The top layer: only this package imports Prefect (and lazily, so the
CLI starts fast)."""
