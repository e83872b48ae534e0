"""``aiops``: operator commands (setup, up, demo, send, status, tail, replay, dlq, feedback, history,
nats-config)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from services.cli._durations import parse_when

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiops",
        description="Operate the AIOps alert pipeline. NATS_URL selects the server (default 127.0.0.1:4222).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="run nats-server, the four services, history and the console in the foreground"
    )
    up.add_argument("--data", default=".data", help="where nats-server keeps its store (default .data)")
    demo = commands.add_parser("demo", help="run the pipeline and feed it the bundled sample alerts")
    demo.add_argument(
        "--data", default=".data", help="where nats-server keeps its store and the logs (default .data)"
    )
    demo.add_argument(
        "--once",
        action="store_true",
        default=os.environ.get("DEMO_ONCE") == "1",
        help="exit 0 once every sample was analysed and notified (also DEMO_ONCE=1)",
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("DEMO_TIMEOUT", "120")),
        help="with --once, give up (exit 1) after this many seconds (default 120, or DEMO_TIMEOUT)",
    )
    tail = commands.add_parser("tail", help="follow alerts.analyzed (or incidents) and print each analysis")
    tail.add_argument(
        "--since",
        type=parse_when,
        help="start this far back (1h) or at a time, as replay (default: new only)",
    )
    tail.add_argument("--json", action="store_true", help="print the raw JSON messages")
    tail.add_argument(
        "-n",
        "--limit",
        type=positive_count,
        help="print this many and stop: with --since the newest of the window (and new ones while it "
        "holds fewer), without it the next to arrive",
    )
    tail.add_argument("--incidents", action="store_true", help="follow incident events (alerts.incidents.*)")
    replay = commands.add_parser("replay", help="feed a past window back through the later stages")
    replay.add_argument("--since", required=True, type=parse_when, help="2h, 30m ago or an RFC 3339 time")
    replay.add_argument("--until", type=parse_when, help="end of the window, as --since (default: now)")
    replay.add_argument(
        "--subject",
        default="alerts.raw",
        help="alerts.raw (re-enrich), alerts.enriched, or alerts.incidents.opened|updated|resolved|>",
    )
    replay.add_argument("--incidents", action="store_true", help="every incident event: alerts.incidents.>")
    replay.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="only alerts with this label value",
    )
    replay.add_argument("--reanalyze", action="store_true", help="bypass the analysis cache (new LLM call)")
    replay.add_argument("--notify", action="store_true", help="notify destinations (default: do not)")
    replay.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    # Whether --until comes after --since is known once both are parsed: main() reports it as replay's.
    replay.set_defaults(usage_error=replay.error)
    dlq = commands.add_parser("dlq", help="dead letters: list or redrive")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_commands.add_parser("list", help="show dead letters with their errors")
    dlq_list.add_argument(
        "-n", "--limit", type=positive_count, default=100, help="the newest this many (default 100)"
    )
    dlq_list.add_argument("--json", action="store_true")
    redrive = dlq_commands.add_parser("redrive", help="republish dead letters to their original subject")
    redrive.add_argument("--seq", type=int, action="append", default=[], help="stream sequence (repeatable)")
    redrive.add_argument("--all", action="store_true", help="every dead letter")
    redrive.add_argument(
        "--stage", type=dead_letter_stage, help="those of this stage (with --seq: only those of it)"
    )
    redrive.add_argument(
        "--undecodable",
        action="store_true",
        help="also those their stage could not decode (kept otherwise: unchanged, they fail again), "
        "e.g. after upgrading it to read a newer schema",
    )
    setup = commands.add_parser("setup", help="choose and test the LLM, Slack, Prometheus, Loki; write .env")
    setup.add_argument("--non-interactive", action="store_true", help="take the flags, ask nothing")
    setup.add_argument("--llm-provider", choices=["deepseek", "openai", "ollama", "vllm", "llamacpp", "none"])
    setup.add_argument("--llm-api-key", help="'-' reads it from stdin (keeps it out of shell history)")
    setup.add_argument("--llm-base-url")
    setup.add_argument("--llm-model")
    setup.add_argument("--slack-webhook", help="Slack incoming webhook URL; 'none' removes it")
    setup.add_argument("--test-slack", action="store_true", help="post a test message to the webhook")
    setup.add_argument("--prometheus-url", help="checked with /-/ready; 'none' removes it")
    setup.add_argument("--loki-url", help="checked with /ready; 'none' removes it")
    setup.add_argument("--env-file", help="the file to write (default .env, or AIOPS_ENV_FILE)")
    setup.add_argument("--yes", action="store_true", help="write even when a check failed")
    send = commands.add_parser("send", help="post a test alert to ingest and print its analysis")
    send.add_argument("--sample", help="a bundled sample by alert name (default: the first; see --list)")
    send.add_argument("--list", action="store_true", help="list the bundled samples")
    send.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="send an alert of your own with this label instead of a sample; repeat it, alertname required",
    )
    send.add_argument(
        "--annotation",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an annotation of that alert (summary=..., description=...); repeat it",
    )
    send.add_argument("--url", help="ingest's base URL (default http://127.0.0.1:$INGEST_PORT)")
    send.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the analysis (default 60)"
    )
    send.add_argument("--json", action="store_true", help="the analysis alone as JSON; progress on stderr")
    status = commands.add_parser(
        "status",
        help="every service's health, lag, dead letters, LLM and deliveries",
        description="Every service's health, lag, dead letters, LLM and deliveries on one screen. Exits 1"
        " when a service is down or not ready, NATS or the stream is missing, or the LLM circuit breaker"
        " is open; lag and dead letters are shown, not failed on.",
    )
    status.add_argument(
        "--json", action="store_true", help="one JSON document (one per refresh with --watch)"
    )
    status.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    status.add_argument(
        "--interval",
        type=float,
        help="seconds between the two readings the rates are taken from (default 0.3);"
        " with --watch, between refreshes (default 2)",
    )
    status.add_argument("--host", default="127.0.0.1", help="where the services listen (default 127.0.0.1)")
    docs = commands.add_parser("config-docs", help="regenerate the configuration table in README.md")
    docs.add_argument("--readme", default="README.md")
    feedback = commands.add_parser("feedback", help="people's verdicts on analyses")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True)
    feedback_export = feedback_commands.add_parser(
        "export", help="write verdicts from history as scenarios for `just eval --feedback`"
    )
    feedback_export.add_argument("--since", type=parse_when, help="alerts received since: 30d or a time")
    feedback_export.add_argument("--dir", default=".data/feedback", help="where (default .data/feedback)")
    history = commands.add_parser("history", help="the SQL history of analyses, incidents and verdicts")
    history_commands = history.add_subparsers(dest="history_command", required=True)
    history_rebuild = history_commands.add_parser("rebuild", help="refill history from the stream")
    history_rebuild.add_argument("--since", type=parse_when, help="7d, 12h or a time (default: all it holds)")
    export = commands.add_parser("nats-config", help="write the stream and consumer JSON for the nats CLI")
    export.add_argument("--dir", default="infra/nats", help="target folder (default infra/nats)")
    return parser


def positive_count(text: str) -> int:
    """-n: how many to show, at least one."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: give a whole number from 1")
    return count


def dead_letter_stage(name: str) -> str:
    """--stage: a stage that dead-letters, which is one with a durable consumer."""
    # Imported here, not above: every command builds this parser, and the runtime imports nats-py.
    from services.runtime import CONSUMERS

    if name not in CONSUMERS:
        raise argparse.ArgumentTypeError(f"no stage named {name!r}; choose one of: {', '.join(CONSUMERS)}")
    return name


def _selectors(pairs: list[str]) -> dict[str, str]:
    selectors = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"aiops replay: --match takes LABEL=VALUE, got {pair!r}")
        selectors[name] = value
    return selectors


def _check_window(args: argparse.Namespace) -> None:
    """An --until before --since selects nothing: a mistake to say, not an empty result to show.
    Both are in UTC (``parse_when``)."""
    until, since = getattr(args, "until", None), getattr(args, "since", None)
    if until is not None and since is not None and until < since:
        args.usage_error(
            f"argument --until: {until:%Y-%m-%dT%H:%M:%SZ} is before "
            f"--since {since:%Y-%m-%dT%H:%M:%SZ}; the window between them is empty"
        )


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    _check_window(args)
    if args.command == "setup":
        from services.cli._setup import setup

        sys.exit(setup(args))
    from services.cli._dotenv import apply_env_file

    # Every other command sees the settings `aiops setup` wrote; real environment variables win.
    apply_env_file()
    try:
        code = asyncio.run(_run(args))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


async def _run(args: argparse.Namespace) -> int:
    if args.command == "up":
        from services.cli._supervisor import up

        return await up(Path(args.data))
    if args.command == "demo":
        from services.cli._demo import demo

        return await demo(Path(args.data), args.once, args.timeout)
    if args.command == "tail":
        from services.cli._tail import tail

        return await tail(args.since, args.json, args.limit, incidents=args.incidents)
    if args.command == "replay":
        from services.cli._replay import replay

        return await replay(
            since=args.since,
            until=args.until,
            subject="alerts.incidents.>" if args.incidents else args.subject,
            selectors=_selectors(args.match),
            reanalyze=args.reanalyze,
            notify=args.notify,
            dry_run=args.dry_run,
        )
    if args.command == "dlq":
        from services.cli._dlq import dlq_list, dlq_redrive

        if args.dlq_command == "list":
            return await dlq_list(args.limit, args.json)
        return await dlq_redrive(args.seq, args.all, args.stage, args.undecodable)
    if args.command == "send":
        from services.cli._send import send_command

        return await send_command(args)
    if args.command == "status":
        from services.cli._status_command import status

        return await status(args.host, args.json, args.watch, args.interval)
    if args.command == "feedback":
        from services.cli._feedback import feedback_export

        return await feedback_export(args.since, Path(args.dir))
    if args.command == "history":
        from services.cli._history import rebuild

        return await rebuild(args.since)
    if args.command == "config-docs":
        from services.cli._config_doc import update_readme

        print("updated" if update_readme(Path(args.readme)) else "unchanged", args.readme)
        return 0
    from services.cli._nats_config import write_nats_config

    for path in write_nats_config(Path(args.dir)):
        print(path)
    return 0
