"""Localhost versions of the compose stack's Prometheus and Alertmanager configs.

The compose files address services by name (``ingest:8000``, ``alertmanager:9093``). Without Docker the
same configs must point at 127.0.0.1, so each address is rewritten from the compose host name; a job
whose host does not run locally (the NATS exporter, Loki) is dropped rather than left failing. These
functions are pure: parsed YAML in, parsed YAML out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Config = dict[str, Any]


@dataclass(frozen=True)
class LocalPorts:
    """Where each compose host listens on this machine; ``None`` = not running here."""

    ingest: int = 8000
    enricher: int = 8001
    analyst: int = 8002
    notifier: int = 8003
    prometheus: int = 9090
    alertmanager: int = 9093
    node_exporter: int | None = None

    def by_compose_host(self) -> dict[str, int | None]:
        return {
            "ingest": self.ingest,
            "enricher": self.enricher,
            "analyst": self.analyst,
            "notifier": self.notifier,
            # Prometheus scrapes itself as localhost in compose too.
            "localhost": self.prometheus,
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "node-exporter": self.node_exporter,
        }


def _local_address(host: str, ports: LocalPorts) -> str | None:
    port = ports.by_compose_host().get(host)
    return None if port is None else f"127.0.0.1:{port}"


def _job_hosts(job: Config) -> list[str]:
    hosts = [
        target.rsplit(":", 1)[0] for group in job.get("static_configs", []) for target in group["targets"]
    ]
    hosts += [name for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
    return hosts


def render_prometheus(source: Config, ports: LocalPorts, rules_dir: Path) -> Config:
    """The compose ``prometheus.yml`` with targets on 127.0.0.1 and rules read from ``rules_dir``."""
    config = copy.deepcopy(source)
    config["rule_files"] = [str(rules_dir / Path(pattern).name) for pattern in source.get("rule_files", [])]
    jobs = []
    for job in config.get("scrape_configs", []):
        found = [_local_address(host, ports) for host in _job_hosts(job)]
        addresses = sorted({address for address in found if address is not None})
        if not found or len(addresses) < len(set(found)):
            continue
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": addresses}]
        jobs.append(job)
    config["scrape_configs"] = jobs
    for manager in config.get("alerting", {}).get("alertmanagers", []):
        manager["static_configs"] = [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]
    return config


def _local_url(url: str, ports: LocalPorts) -> str:
    parts = urlsplit(url)
    port = ports.by_compose_host().get(parts.hostname or "")
    if port is None:
        return url
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


def render_alertmanager(
    source: Config, ports: LocalPorts, credentials_file: Path | None, group_wait: str | None = None
) -> Config:
    """The compose ``alertmanager.yml`` delivering to ingest on 127.0.0.1.

    ``credentials_file`` holds ingest's bearer token; ``None`` drops the authorization, for an ingest
    that runs without INGEST_AUTH_TOKEN. ``group_wait`` shortens the first delivery for demos and tests.
    """
    config = copy.deepcopy(source)
    for receiver in config.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = _local_url(webhook["url"], ports)
            http_config = webhook.get("http_config", {})
            if "authorization" not in http_config:
                continue
            if credentials_file is None:
                del http_config["authorization"]
            else:
                http_config["authorization"]["credentials_file"] = str(credentials_file)
    if group_wait is not None:
        config["route"]["group_wait"] = group_wait
    return config


__all__ = ["LocalPorts", "render_alertmanager", "render_prometheus"]
