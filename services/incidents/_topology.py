"""The optional topology file: what depends on what, which hosts a service runs on, where a node stands.

Labels and logs only tell what an alert's own process sees. The file fills in what they do not::

    services:
      checkout:
        depends_on: [db-main, redis-cart]   # its errors may be explained by these failing
        hosts: [checkout-1.prod, 10.0.2.5]  # names under which the service shows up in alerts and logs
      db-main:
        hosts: [db-main-0, 10.0.3.4]
    nodes:
      ip-10-0-1-7:
        zone: eu-west-1a
        hosts: [10.0.1.7]                   # addresses of the node (node-exporter's instance)

Every name is compared lower-cased; a host is compared without its port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.runtime import ConfigError


def host_name(value: str) -> str:
    """A host as alerts and logs name it: no scheme, path, user or port; lower-cased.

    "https://shop.example.com:443/health" -> "shop.example.com"; "10.0.3.4:5432" -> "10.0.3.4";
    "[::1]:9100" -> "::1".
    """
    host = value.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    if "/" in host:
        host = host.split("/", 1)[0]
    if "@" in host:
        host = host.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host


@dataclass(frozen=True)
class Topology:
    """Dependencies, host aliases and node zones, all names lower-cased."""

    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # host alias -> the service (or node) it belongs to
    service_of_host: Mapping[str, str] = field(default_factory=dict)
    node_of_host: Mapping[str, str] = field(default_factory=dict)
    zone_of_node: Mapping[str, str] = field(default_factory=dict)

    def dependencies(self, service: str) -> tuple[str, ...]:
        return self.depends_on.get(service.lower(), ())

    def service(self, host: str) -> str:
        """The service a host belongs to, "" when the file does not say."""
        return self.service_of_host.get(host_name(host), "")

    def node(self, host: str) -> str:
        return self.node_of_host.get(host_name(host), "")

    def zone(self, node: str) -> str:
        return self.zone_of_node.get(node.lower(), "")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str | int) for item in value):
        raise ConfigError(f"{where} must be a list of names")
    return tuple(str(item).strip().lower() for item in value if str(item).strip())


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: {key!r} must map names to their settings")
    for name, item in section.items():
        if item is not None and not isinstance(item, dict):
            raise ConfigError(f"{where}: {key}.{name} must be a mapping")
    return section


def parse_topology(data: Any, where: str = "topology") -> Topology:
    """A Topology from the file's parsed YAML; ConfigError names what is wrong."""
    if data is None:
        return Topology()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with 'services' and/or 'nodes'")
    unknown = set(data) - {"services", "nodes"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(sorted(map(str, unknown)))}")
    depends_on: dict[str, tuple[str, ...]] = {}
    service_of_host: dict[str, str] = {}
    for name, item in _section(data, "services", where).items():
        service = str(name).lower()
        item = item or {}
        depends_on[service] = _names(item.get("depends_on"), f"{where}: services.{name}.depends_on")
        for host in _names(item.get("hosts"), f"{where}: services.{name}.hosts"):
            service_of_host[host_name(host)] = service
    node_of_host: dict[str, str] = {}
    zone_of_node: dict[str, str] = {}
    for name, item in _section(data, "nodes", where).items():
        node = str(name).lower()
        item = item or {}
        if item.get("zone"):
            zone_of_node[node] = str(item["zone"]).lower()
        for host in _names(item.get("hosts"), f"{where}: nodes.{name}.hosts"):
            node_of_host[host_name(host)] = node
    return Topology(depends_on, service_of_host, node_of_host, zone_of_node)


def load_topology(path: str | Path) -> Topology | None:
    """The topology file at ``path`` (INCIDENT_TOPOLOGY_FILE); None when no path is set."""
    if not str(path):
        return None
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the topology file {file}: {error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"the topology file {file} is not valid YAML: {error}") from error
    return parse_topology(data, str(file))
