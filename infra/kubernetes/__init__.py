"""The pipeline on Kubernetes: manifests rendered from values, and the rules they must satisfy.

``python -m infra.kubernetes render [--values FILE] [--set key=value]`` prints every manifest for
``kubectl apply -f -``; ``nats-values`` prints the values of the official NATS chart it runs on;
``check`` renders and runs the rules (and the Kubernetes schemas, where kubernetes-validate is
installed). No ``helm`` binary installs from the package registries this project uses, so the
renderer is Python; docs/deployment.md, "Kubernetes", says how to deploy.
"""

from infra.kubernetes._checks import problems
from infra.kubernetes._nats import chart_values
from infra.kubernetes._render import render, to_yaml
from infra.kubernetes._values import Values, ValuesError, load_values

__all__ = ["Values", "ValuesError", "chart_values", "load_values", "problems", "render", "to_yaml"]
