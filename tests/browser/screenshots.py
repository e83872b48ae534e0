"""``just screenshots``: the console's main pages as PNG files in docs/screenshots/, from sample data.

A real console process on a fresh nats-server and SQLite history, filled with a handful of analyses,
an incident and a verdict, photographed by the same headless Chromium the browser tests use.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

import schemas
from tests.support.browser import ConsoleProcess, World, browser_missing, close_browser, new_browser
from tests.support.console import analyzed, with_evidence
from tests.support.history import incident_event, verdict
from tests.support.nats_server import NatsServer

PAGES = {
    "alerts.png": "/",
    "alert.png": "/alerts/a0000001",
    "incident.png": "/incidents/inc-checkout",
    "stats.png": "/stats?days=7",
}
SAMPLES: tuple[tuple[str, schemas.Category, str, str, str], ...] = (
    (
        "KubePodCrashLooping",
        "crash_loop",
        "critical",
        "payments",
        "payments-api restarts: OOMKilled after deploy",
    ),
    ("HighCPUUsage", "cpu_saturation", "warning", "checkout", "checkout-0 CPU at 97% since 09:58"),
    (
        "DiskWillFillIn4Hours",
        "disk_capacity",
        "warning",
        "postgres",
        "volume pg-data fills in 3h at this rate",
    ),
    (
        "HTTPErrorRateHigh",
        "dependency_failure",
        "critical",
        "checkout",
        "5% of checkout requests fail: payments down",
    ),
    ("CertificateExpiresSoon", "certificate_expiry", "info", "ingress", "shop.example.com expires in 6 days"),
)


def _samples(now: datetime) -> tuple[list[schemas.AnalyzedAlert], schemas.IncidentEvent]:
    alerts = []
    for n, (name, category, severity, service, summary) in enumerate(SAMPLES, start=1):
        message = analyzed(
            n,
            at=now - timedelta(minutes=7 * n),
            alertname=name,
            category=category,
            summary=summary,
            labels={"severity": severity, "service": service},
            incident_id="inc-checkout" if service in ("checkout", "payments") else "",
            analyzer="llm",
            model="deepseek-chat",
            prompt_tokens=1800,
            completion_tokens=260,
            evidence=["memory at 100% of limit before each restart", "OOMKilled in events"],
            remediation=["kubectl -n shop rollout undo deploy/payments-api"],
        )
        alerts.append(with_evidence(message, label=f"{service}-0"))
    members = [
        schemas.IncidentMember(
            alert_id=a.id,
            alertname=a.alert.labels["alertname"],
            status="firing",
            severity=a.alert.labels["severity"],
            starts_at=a.alert.starts_at,
            labels={"service": a.alert.labels["service"]},
            summary=a.analysis.summary,
            role="root" if i == 0 else "caused",
            signals=[] if i == 0 else ["service", "time"],
        )
        for i, a in enumerate(a for a in alerts if a.incident)
    ]
    event = incident_event(
        "inc-checkout",
        3,
        at=now,
        title="checkout failing: payments-api crash-looping",
        opened_at=now - timedelta(minutes=30),
        category="crash_loop",
    )
    incident = msgspec.structs.replace(
        event.incident,
        members=members,
        root=members[0],
        member_count=3,
        firing_count=3,
        alertnames={m.alertname: 1 for m in members},
    )
    return alerts, msgspec.structs.replace(event, incident=incident)


def main(folder: Path) -> int:
    if missing := browser_missing():
        print(f"screenshots: {missing}", file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="console-screenshots-"))
    server = NatsServer().start()
    console = ConsoleProcess(server.url, f"sqlite:///{work / 'history.db'}", work / "console.log", {}).start()
    browser = new_browser(1400, 900)
    try:
        world = World(server.url, console.database_url, console)
        alerts, incident = _samples(datetime.now(UTC).replace(microsecond=0))
        verdicts = [
            verdict("a0000002", at=datetime.now(UTC)),
            verdict("a0000003", verdict="corrected", category="disk_capacity", corrected="disk_io"),
        ]
        world.store(alerts=alerts, incidents=[incident], feedback=verdicts)
        for name, path in PAGES.items():
            browser.get(console.url + path)
            for _ in range(2):  # the height changes with the width the scrollbar leaves
                height = browser.execute_script("return document.documentElement.scrollHeight")
                browser.set_window_size(1400, min(max(height + 140, 600), 4000))
            browser.save_screenshot(str(folder / name))
            print(f"wrote {folder / name}")
    finally:
        close_browser(browser)
        console.stop()
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
