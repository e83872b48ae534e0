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
    # correlation compiled with mypyc while it matches the sources (services/compiled.py); else interpreted
    {{ bin }}/python -m services.compiled --quiet

# llama.cpp's OpenAI-compatible server and SmolLM2-135M for the LLM tests against a real model (first build 8-15 min)
llama-server: venv
    #!/usr/bin/env bash
    set -uo pipefail
    # A portable build (up to AVX2, llama.cpp's choice without GGML_NATIVE). The native build uses AMX
    # wherever the CPU lists it, and on machines whose hypervisor does not enable AMX the first answer
    # dies in `ldtilecfg` (seen here: a general protection fault, the tests' server gone).
    flags="-DGGML_NATIVE=OFF"
    spec="$({{ bin }}/python -c 'import tomllib; extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["llama-server"]; print(next(r for r in extra if r.startswith("llama-cpp-python")))')"
    build="$(printf '%s\n' "$flags" "$spec" | sha256sum | cut -c1-16)"
    stamp="{{ venv }}/.llama-server-$(printf '%s\n' "$build" | cat - pyproject.toml | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && exit 0
    rm -f {{ venv }}/.llama-server-*
    # pip's own wheel cache is keyed by the download alone, not by CMAKE_ARGS: a wheel built natively
    # before would be taken again. So the build goes to a cache of ours, named by its flags.
    wheels="${XDG_CACHE_HOME:-$HOME/.cache}/aiops/llama-cpp-wheels/$build"
    log={{ venv }}/llama-server.log
    if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        echo "building llama.cpp for the extra llama-server, once per machine (8-15 min on 2 cores; $log)"
        CMAKE_ARGS="$flags" {{ bin }}/python -m pip wheel -q --disable-pip-version-check --no-cache-dir --no-deps \
            -w "$wheels" "$spec" >"$log" 2>&1
    fi
    if {{ bin }}/python -m pip install -q --disable-pip-version-check --find-links "$wheels" \
        --only-binary llama-cpp-python -e '.[llama-server]' >>"$log" 2>&1; then
        echo installed >"$stamp"
    else
        # Not tried again until pyproject.toml changes (or `rm .venv/.llama-server-*`): a failed build costs minutes.
        echo "warning: the local model server did not install (see $log); the tests that need it will skip"
        echo failed >"$stamp"
    fi

# choose and test the LLM, Slack, Prometheus and Loki, then write .env (read by `just up` and compose); args: --help
setup *args: venv
    {{ bin }}/aiops setup {{ args }}

# nats-server (from the venv, unless NATS_URL is set) and the four services as processes; Ctrl-C stops all
up: venv
    {{ bin }}/aiops up

# the pipeline plus the bundled sample alerts, each analysis printed; DEMO_ONCE=1 exits when all are notified
demo: venv
    {{ bin }}/aiops demo

# lint, the local model server (`llama-server`), then the whole suite (e2e skips without Prometheus/Alertmanager)
test: lint llama-server
    {{ bin }}/pytest -q

# ruff (lint and format check) and mypy (strict on schemas and the runtime; the tests and benchmarks too)
lint: venv
    {{ bin }}/ruff check .
    {{ bin }}/ruff format --check .
    {{ bin }}/mypy schemas services tests bench

# format the code
fmt: venv
    {{ bin }}/ruff format .
    {{ bin }}/ruff check --fix .

# throughput, latency and memory figures, with ratios against baselines measured in the same run
bench: venv
    {{ bin }}/python -m bench

# the rules analyst on the labelled scenarios; `--benchmarks [--verbose]` adds the public inputs in
# ../shared/benchmarks (docs/evaluation.md), `--llm` the LLM analyst (needs LLM_API_KEY);
# `--storms [--verbose]` scores the grouping of alerts into incidents instead (bench/storms/README.md)
eval *args: venv
    if [[ " {{ args }} " == *" --storms "* ]]; then {{ bin }}/python -m bench.storms {{ args }}; else {{ bin }}/python -m services.analyst.eval {{ args }}; fi

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
    # Ctrl-C has stopped the stack already: the kill and wait finding it gone are no failure.
    trap 'kill -TERM $stack 2>/dev/null || true; wait $stack || true' EXIT
    {{ bin }}/aiops up

# the Kubernetes manifests on stdout, for `kubectl apply -f -`; args: --values FILE, --set key=value (docs/deployment.md)
k8s *args: venv
    {{ bin }}/python -m infra.kubernetes render {{ args }}

# the console's main pages as PNG files in docs/screenshots/ (headless Debian chromium, sample data)
screenshots: venv
    {{ bin }}/python -m tests.browser.screenshots docs/screenshots

# regenerate what is generated from the code: docs/schemas, infra/nats, the README's configuration table
docs: venv
    {{ bin }}/python -m schemas docs/schemas
    {{ bin }}/aiops nats-config --dir infra/nats
    {{ bin }}/python -m infra.kubernetes nats-values > infra/kubernetes/nats-values.yaml
    {{ bin }}/aiops config-docs --readme README.md
