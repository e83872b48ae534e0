"""Deployment configuration of the pipeline, and the tools that run it without Docker."""

__all__: list[str] = []
