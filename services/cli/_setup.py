"""``aiops setup``: the LLM provider, Slack, Prometheus and Loki, and the ingest token, into ``.env``.

Interactive by default; ``--non-interactive`` takes flags instead and changes only what they name.
Each choice is tried before it is kept (one LLM call, an opt-in Slack post, ``/-/ready`` and
``/ready``): a failed try shows its reason, and nothing is written unless the person confirms
(``--yes`` for scripts). Comments, order and other keys of an existing file are kept.

It runs outside asyncio on purpose: Ctrl-C at a prompt must stop it at once, with nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.console import Console

from services.cli._dotenv import EnvFileError, default_env_file, read_env_file, update_env_file
from services.cli._setup_checks import Check, check_llm, check_ready, check_slack, host_of
from services.cli._setup_plan import (
    BY_NAME,
    PROVIDERS,
    Provider,
    changed,
    current_base_url,
    current_key,
    current_model,
    current_provider,
    llm_changes,
    loopback_under_compose,
    receiver_block,
    shown,
    token_change,
)

BACKENDS = (
    # (name, setting, readiness path, what the enricher takes from it)
    ("Prometheus", "PROMETHEUS_URL", "/-/ready", "metric evidence"),
    ("Loki", "LOKI_URL", "/ready", "log evidence"),
)
NONE_WORDS = ("none", "-")


class Setup:
    """One run: the file's values, the changes chosen so far, the checks that failed."""

    def __init__(self, path: Path, console: Console) -> None:
        self.path = path
        self.console = console
        try:
            self.values = read_env_file(path)
        except EnvFileError as exc:
            raise SystemExit(f"aiops setup: {exc}") from exc
        self.changes: dict[str, str] = {}
        self.failed: list[str] = []

    def say(self, text: str = "") -> None:
        self.console.print(text)

    def ask(self, label: str, default: str = "", password: bool = False) -> str:
        suffix = f" [{default}]" if default and not password else ""
        answer = self.console.input(f"{label}{suffix}: ", password=password, markup=False).strip()
        return answer or default

    def confirm(self, question: str, default: bool) -> bool:
        while True:
            choices = "Y/n" if default else "y/N"
            answer = self.console.input(f"{question} [{choices}]: ", markup=False).strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes", "n", "no"):
                return answer.startswith("y")

    def attempt(self, what: str, check: Callable[[], Check]) -> bool:
        self.say(f"  {what} …")
        result = check()
        self.say(f"  {'ok' if result.ok else 'FAILED'}: {result.detail}")
        if not result.ok:
            self.failed.append(f"{what}: {result.detail}")
        return result.ok

    def try_llm(self, provider: Provider, changes: dict[str, str]) -> bool:
        return self.attempt(f"one call to {provider.short}", lambda: check_llm({**self.values, **changes}))

    def try_backend(self, name: str, url: str, path: str) -> bool:
        return self.attempt(f"{name} {path}", lambda: check_ready(name, url, path, self.values))

    def write(self, confirm: bool) -> int:
        self.changes.update(token_change(self.values))
        diff = changed(self.values, self.changes)
        self.say()
        if not diff:
            self.say(f"Nothing to change in {self.path}.")
        else:
            self.say(f"Changes to {self.path}:")
            for name, value in diff.items():
                self.say(f"  {name}={shown(name, value)}")
            if confirm and not self.confirm(f"Write them to {self.path}?", True):
                self.say("Nothing written.")
                return 1
            try:
                update_env_file(self.path, diff)
            except (ValueError, OSError) as exc:
                raise SystemExit(f"aiops setup: nothing written: {exc}") from exc
            self.say(f"Wrote {self.path} (mode 0600). `aiops up` and docker compose read it.")
            for name in diff:
                if os.environ.get(name) and os.environ[name] != diff[name]:
                    self.say(
                        f"Note: {name} is also set in this shell's environment, which wins over {self.path}."
                    )
        for line in loopback_under_compose(self.path, {**self.values, **diff}):
            self.say(line)
        self.say()
        self.say(receiver_block(self.path, {**self.values, **diff}))
        return 0


def _provider(choice: str) -> Provider | None:
    if choice.isdigit() and 1 <= int(choice) <= len(PROVIDERS):
        return PROVIDERS[int(choice) - 1]
    return BY_NAME.get(choice.lower())


def _ask_llm(s: Setup) -> None:
    current = current_provider(s.values)
    s.say("LLM provider for the analyses:")
    for number, listed in enumerate(PROVIDERS, start=1):
        s.say(f"  {number}  {listed.title}{'   (current)' if listed is current else ''}")
    default = str(PROVIDERS.index(current) + 1)
    while True:
        provider = _provider(s.ask("Provider", default))
        if provider is None:
            s.say(f"  Choose 1 to {len(PROVIDERS)}.")
            continue
        same = provider is current
        if provider.name == "none":
            s.changes.update(llm_changes(provider, s.values))
            return
        base_url = s.ask(
            "Base URL (LLM_BASE_URL)", (current_base_url(s.values) if same else "") or provider.base_url
        )
        model = ""
        while not model:
            model = s.ask("Model (LLM_MODEL)", (current_model(s.values) if same else "") or provider.model)
        existing = current_key(s.values) if same else ""
        if existing:
            hint = f"Enter keeps {shown('LLM_API_KEY', existing)}"
        else:
            hint = f"Enter: {provider.key!r}, any value works" if provider.key else "required"
        key = ""
        while not key:
            key = s.ask(f"API key (LLM_API_KEY; hidden; {hint})", password=True) or existing or provider.key
        changes = llm_changes(provider, s.values, base_url, model, key)
        if s.try_llm(provider, changes) or s.confirm("Keep these LLM settings anyway?", False):
            s.changes.update(changes)
            return
        s.say(f"Choose again ({len(PROVIDERS)}: the rules engine), or Ctrl-C to stop with nothing written.")


def _ask_slack(s: Setup) -> None:
    current = s.values.get("SLACK_WEBHOOK_URL", "")
    hint = f"Enter keeps {shown('SLACK_WEBHOOK_URL', current)}, 'none' removes" if current else "Enter: none"
    while True:
        url = s.ask(f"Slack incoming webhook URL (SLACK_WEBHOOK_URL; {hint})") or current
        url = "" if url.lower() in NONE_WORDS else url
        if url and not url.startswith(("https://", "http://")):
            s.say("  Not a URL: it starts with https://hooks.slack.com/services/…")
            continue
        if url and s.confirm("Post a test message to it now?", False):
            tested = s.attempt(f"test post to {host_of(url)}", partial(check_slack, url))
            if not tested and not s.confirm("Keep this webhook anyway?", False):
                continue
        s.changes["SLACK_WEBHOOK_URL"] = url
        return


def _ask_backends(s: Setup) -> None:
    for name, setting, path, evidence in BACKENDS:
        current = s.values.get(setting, "")
        while True:
            url = s.ask(f"{name} URL ({setting}; 'none': no {evidence})", current or "none")
            url = "" if url.lower() in NONE_WORDS else url
            if not url or s.try_backend(name, url, path) or s.confirm(f"Keep this {name} URL anyway?", False):
                s.changes[setting] = url
                break


def _interactive(s: Setup) -> int:
    s.say(f"aiops setup writes {s.path}; what it has stays unless you replace it.")
    s.say("Ctrl-C stops, writing nothing.")
    s.say()
    _ask_llm(s)
    s.say()
    _ask_slack(s)
    s.say()
    _ask_backends(s)
    return s.write(confirm=True)


def _scripted_llm(s: Setup, args: argparse.Namespace) -> None:
    if not args.llm_provider:
        if args.llm_api_key or args.llm_base_url or args.llm_model:
            raise SystemExit(
                "aiops setup: --llm-api-key, --llm-base-url and --llm-model go with --llm-provider"
            )
        return
    provider = BY_NAME[args.llm_provider]
    same = provider is current_provider(s.values)
    key = sys.stdin.readline().strip() if args.llm_api_key == "-" else args.llm_api_key or ""
    key = key or (current_key(s.values) if same else "") or provider.key
    model = args.llm_model or (current_model(s.values) if same else "") or provider.model
    base_url = args.llm_base_url or (current_base_url(s.values) if same else "") or provider.base_url
    if provider.name != "none":
        if not key:
            raise SystemExit(
                f"aiops setup: --llm-provider {provider.name} needs --llm-api-key ('-' reads stdin)"
            )
        if not model:
            raise SystemExit(f"aiops setup: --llm-provider {provider.name} needs --llm-model")
    changes = llm_changes(provider, s.values, base_url, model, key)
    if provider.name != "none":
        s.try_llm(provider, changes)
    s.changes.update(changes)


def _scripted(s: Setup, args: argparse.Namespace) -> int:
    _scripted_llm(s, args)
    slack = s.values.get("SLACK_WEBHOOK_URL", "") if args.slack_webhook is None else args.slack_webhook
    slack = "" if slack.lower() in NONE_WORDS else slack
    if args.test_slack:
        if not slack:
            raise SystemExit("aiops setup: --test-slack needs --slack-webhook (or one in the file)")
        s.attempt(f"test post to {host_of(slack)}", lambda: check_slack(slack))
    if args.slack_webhook is not None:
        s.changes["SLACK_WEBHOOK_URL"] = slack
    for name, setting, path, _ in BACKENDS:
        url = getattr(args, setting.lower())
        if url is not None:
            url = "" if url.lower() in NONE_WORDS else url
            if url:
                s.try_backend(name, url, path)
            s.changes[setting] = url
    if s.failed and not args.yes:
        s.say(f"Nothing written to {s.path}: {len(s.failed)} check(s) failed (--yes writes anyway).")
        return 1
    return s.write(confirm=False)


def setup(args: argparse.Namespace) -> int:
    console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
    s = Setup(Path(args.env_file) if args.env_file else default_env_file(), console)
    try:
        return _scripted(s, args) if args.non_interactive else _interactive(s)
    except (KeyboardInterrupt, EOFError):
        console.print(f"\nStopped: nothing written to {s.path}.")
        return 130
