"""The Kubernetes JSON schemas, through kubernetes-validate (a development dependency)."""

from __future__ import annotations

from infra.kubernetes._pod_rules import Manifest

# Custom resources the schemas do not know; the rules in _checks judge them.
CUSTOM_KINDS = frozenset({("keda.sh/v1alpha1", "ScaledObject")})


def schema_problems(manifests: list[Manifest], kubernetes_version: str) -> list[str]:
    try:
        import kubernetes_validate
    except ImportError:
        return []  # installed with the project's dev extras; without it, the rules alone run
    found = []
    for manifest in manifests:
        if (manifest.get("apiVersion"), manifest.get("kind")) in CUSTOM_KINDS:
            continue
        where = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.absolute_path)
            found.append(f"{where}: schema: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            found.append(f"{where}: schema: {exc.message}")
    return found
