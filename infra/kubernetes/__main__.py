"""``python -m infra.kubernetes render|nats-values|check``: manifests, NATS chart values, a check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from infra.kubernetes._checks import problems
from infra.kubernetes._nats import chart_values
from infra.kubernetes._render import render, to_yaml
from infra.kubernetes._schema import schema_problems
from infra.kubernetes._values import ValuesError, load_values

NATS_VALUES_HEADER = """\
# Values for the official NATS chart (https://nats-io.github.io/k8s/helm/charts/, chart `nats`), generated
# from infra/kubernetes/values.yaml by `python -m infra.kubernetes nats-values`; a test keeps it in step.
#   helm repo add nats https://nats-io.github.io/k8s/helm/charts/
#   helm upgrade --install {release} nats/nats --namespace {namespace} --create-namespace \\
#     --version '{version}' --values infra/kubernetes/nats-values.yaml
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.kubernetes", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("render", "print every manifest as one YAML stream for `kubectl apply -f -`"),
        ("nats-values", "print the values for the official NATS Helm chart"),
        ("check", "render, then check the manifests against the rules and the Kubernetes schemas"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--values", "-f", type=Path, action="append", default=[], help="values file")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one value")
        if name == "check":
            command.add_argument("--kubernetes-version", default="1.33", help="schemas of this version")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        values = load_values(args.values, args.set)
    except ValuesError as exc:
        print(f"infra.kubernetes: {exc}", file=sys.stderr)
        return 2
    if args.command == "nats-values":
        nats = values.nats
        header = NATS_VALUES_HEADER.format(
            release=nats.release, namespace=nats.namespace, version=nats.chart.version
        )
        sys.stdout.write(header + yaml.safe_dump(chart_values(values), sort_keys=False))
        return 0
    manifests = render(values)
    if args.command == "render":
        sys.stdout.write(to_yaml(manifests))
        return 0
    found = problems(manifests) + schema_problems(manifests, args.kubernetes_version)
    for problem in found:
        print(problem)
    print(f"{len(manifests)} manifests, {len(found)} problem{'' if len(found) == 1 else 's'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
