"""``python -m infra.local.stack``: a real Prometheus and Alertmanager for the pipeline, without Docker.

Renders localhost versions of ``infra/prometheus`` and ``infra/alertmanager`` into ``.data/stack/``,
starts Debian's ``prometheus`` and ``prometheus-alertmanager`` on them, and stops both on Ctrl-C or
SIGTERM. The pipeline itself runs beside it (``just up``).

Settings come from the environment and ``.env`` (or ``AIOPS_ENV_FILE``), read as ``aiops up`` reads
them, the environment winning: the bearer token Alertmanager sends is the one ingest checks, and
Prometheus scrapes each stage on the port ``aiops up`` gives it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from infra.local._process import Child, StackError, ensure_port_free, start, stop, wait_ready
from infra.local._render import LocalPorts, render_alertmanager, render_prometheus
from services.cli._dotenv import apply_env_file

INFRA = Path(__file__).resolve().parent.parent
INSTALL_HINT = "install Debian's packages: sudo apt-get install prometheus prometheus-alertmanager"


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise StackError(f"{path} is not a YAML mapping")
    return loaded


def write_stack(
    data_dir: Path, ports: LocalPorts, token: str, group_wait: str | None = None
) -> tuple[Path, Path]:
    """Write the rendered configs (and ingest's token, readable by this user only); return their paths."""
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials: Path | None = None
    if token:
        credentials = data_dir / "ingest_token"
        credentials.touch(mode=0o600, exist_ok=True)
        credentials.chmod(0o600)
        credentials.write_text(token)
    prometheus = render_prometheus(
        _load(INFRA / "prometheus" / "prometheus.yml"), ports, INFRA / "prometheus" / "rules"
    )
    alertmanager = render_alertmanager(
        _load(INFRA / "alertmanager" / "alertmanager.yml"), ports, credentials, group_wait
    )
    prometheus_file = data_dir / "prometheus.yml"
    alertmanager_file = data_dir / "alertmanager.yml"
    prometheus_file.write_text(yaml.safe_dump(prometheus, sort_keys=False))
    alertmanager_file.write_text(yaml.safe_dump(alertmanager, sort_keys=False))
    return prometheus_file, alertmanager_file


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise StackError(f"{names[0]} not found on PATH; {INSTALL_HINT}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".data/stack"))
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument("--ingest-port", type=int, default=None, help="default: INGEST_PORT, else 8000")
    parser.add_argument("--node-exporter-port", type=int, default=None, help="scrape a node-exporter here")
    parser.add_argument("--group-wait", default=None, help="override Alertmanager's group_wait, e.g. 5s")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def launch(
    prometheus_file: Path, alertmanager_file: Path, data_dir: Path, ports: LocalPorts, ready_timeout: float
) -> list[Child]:
    """Start Alertmanager and Prometheus on rendered configs; return once both answer ``/-/ready``.

    The caller owns the children and stops them with ``infra.local._process.stop``; the e2e test
    launches its own rendered configs through this too.
    """
    prometheus_url = f"http://127.0.0.1:{ports.prometheus}"
    alertmanager_url = f"http://127.0.0.1:{ports.alertmanager}"
    prometheus_argv = [
        _binary("prometheus"),
        f"--config.file={prometheus_file}",
        f"--storage.tsdb.path={data_dir / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{ports.prometheus}",
        f"--web.external-url={prometheus_url}",
    ]
    alertmanager_argv = [
        _binary("prometheus-alertmanager", "alertmanager"),
        f"--config.file={alertmanager_file}",
        f"--storage.path={data_dir / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
        f"--web.external-url={alertmanager_url}",
        # A single Alertmanager: no gossip port to collide with anything.
        "--cluster.listen-address=",
    ]
    ensure_port_free(ports.prometheus, "--prometheus-port")
    ensure_port_free(ports.alertmanager, "--alertmanager-port")
    children: list[Child] = []
    try:
        children.append(start("alertmanager", alertmanager_argv, data_dir / "alertmanager.log"))
        children.append(start("prometheus", prometheus_argv, data_dir / "prometheus.log"))
        wait_ready(children[0], f"{alertmanager_url}/-/ready", ready_timeout)
        wait_ready(children[1], f"{prometheus_url}/-/ready", ready_timeout)
    except BaseException:
        stop(children)
        raise
    return children


def _port(variable: str, default: int) -> int:
    """The port ``aiops up`` gives a service: ``variable`` when set, else the service's default."""
    value = os.environ.get(variable) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StackError(f"{variable} must be a port number (1-65535)")
    return int(value)


def run(args: argparse.Namespace, stopping: threading.Event) -> None:
    defaults = LocalPorts()
    ports = LocalPorts(
        ingest=args.ingest_port or _port("INGEST_PORT", defaults.ingest),
        enricher=_port("ENRICHER_HEALTH_PORT", defaults.enricher),
        analyst=_port("ANALYST_HEALTH_PORT", defaults.analyst),
        notifier=_port("NOTIFIER_HEALTH_PORT", defaults.notifier),
        prometheus=args.prometheus_port,
        alertmanager=args.alertmanager_port,
        node_exporter=args.node_exporter_port,
    )
    data_dir = args.data_dir.resolve()
    token = os.environ.get("INGEST_AUTH_TOKEN", "")
    prometheus_file, alertmanager_file = write_stack(data_dir, ports, token, args.group_wait)
    children = launch(prometheus_file, alertmanager_file, data_dir, ports, args.ready_timeout)
    try:
        auth = (
            "with bearer token from INGEST_AUTH_TOKEN" if token else "without auth (INGEST_AUTH_TOKEN unset)"
        )
        print(f"prometheus    http://127.0.0.1:{ports.prometheus}", flush=True)
        webhook = f"http://127.0.0.1:{ports.ingest}/webhook/alertmanager"
        print(f"alertmanager  http://127.0.0.1:{ports.alertmanager}  -> {webhook} {auth}")
        print(f"configs and data in {data_dir}; Ctrl-C stops both", flush=True)
        while not stopping.wait(0.5):
            for child in children:
                if child.process.poll() is not None:
                    raise StackError(
                        f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}"
                    )
    finally:
        stop(children)


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    # The settings `aiops setup` wrote, as `aiops up` (run beside this by `just stack`) reads them.
    apply_env_file()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        run(args, stopping)
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print("stack stopped", flush=True)


if __name__ == "__main__":
    main()
