"""The monitoring stack on localhost: ``python -m infra.local.stack`` (what ``just stack`` runs)."""

from infra.local._process import Child, StackError, stop
from infra.local._render import LocalPorts, render_alertmanager, render_prometheus

__all__ = ["Child", "LocalPorts", "StackError", "render_alertmanager", "render_prometheus", "stop"]
