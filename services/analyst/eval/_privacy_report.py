"""The printed privacy figures, their floors, and the scenarios' agreement with redaction on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

import schemas
from services.analyst.eval._floors import PRIVACY_FLOOR
from services.analyst.eval._privacy import PrivacyReport
from services.analyst.eval._run import run_rules
from services.analyst.eval._scenarios import Scenario

RedactMessage = Callable[[schemas.EnrichedAlert], schemas.EnrichedAlert]


def privacy_table(report: PrivacyReport) -> list[str]:
    redaction = "services.privacy.redact" if report.redaction else "none yet (services.privacy absent)"
    planted = sum(c.total for c in report.planted.values())
    lines = [
        f"{report.lines} log lines, {planted} planted values of {len(report.planted)} kinds, "
        f"{sum(report.lookalikes.values())} look-alikes; redaction: {redaction}",
        "planted values reaching each stage (anonymisation = LLM_ANONYMIZE):",
        f"  {'class':<10} {'kind':<18} {'planted':>7} {'enriched':>8} "
        f"{'LLM anon on':>11} {'LLM anon off':>12}",
    ]
    for (class_, kind), count in sorted(report.planted.items()):
        lines.append(
            f"  {class_:<10} {kind:<18} {count.total:>7} {count.enriched:>8} "
            f"{count.llm_on:>11} {count.llm_off:>12}"
        )
    for class_ in ("secret", "identifier"):
        lines.append(
            f"  {class_ + 's':<29} {report.total(class_):>7} {report.reaching(class_, 'enriched'):>8} "
            f"{report.reaching(class_, 'llm_on'):>11} {report.reaching(class_, 'llm_off'):>12}"
        )
    lines += [
        "look-alikes wrongly masked:",
        f"  {'kind':<18} {'total':>5} {'by redaction':>12} {'by anonymiser':>13}",
    ]
    for kind, total in sorted(report.lookalikes.items()):
        lines.append(
            f"  {kind:<18} {total:>5} {report.masked_by_redaction[kind]:>12} "
            f"{report.masked_by_anonymiser[kind]:>13}"
        )
    lines.append(f"  all: {report.masked_share:.1%} wrongly masked")
    lines.append(
        f"Kubernetes names replaced with LLM_ANONYMIZE_K8S_NAMES=true: "
        f"{report.k8s_names - report.k8s_names_left}/{report.k8s_names}"
    )
    return lines


def privacy_shortfalls(report: PrivacyReport) -> list[str]:
    floor, found = PRIVACY_FLOOR, []
    checks = [
        ("secrets on alerts.enriched", report.reaching("secret", "enriched"), floor.secrets_enriched),
        (
            "secrets reaching the LLM, anonymisation on",
            report.reaching("secret", "llm_on"),
            floor.secrets_llm,
        ),
        (
            "secrets reaching the LLM, anonymisation off",
            report.reaching("secret", "llm_off"),
            floor.secrets_llm,
        ),
        (
            "identifiers reaching the LLM, anonymisation on",
            report.reaching("identifier", "llm_on"),
            floor.identifiers_llm_anonymised,
        ),
    ]
    for what, count, limit in checks:
        if count > limit:
            found.append(f"privacy: {what}: {count}, above the limit of {limit}")
    if report.masked_share > floor.lookalikes_masked:
        found.append(
            f"privacy: look-alikes wrongly masked {report.masked_share:.1%}, "
            f"above the limit of {floor.lookalikes_masked:.0%}"
        )
    return found


@dataclass(frozen=True)
class Agreement:
    scenarios: int
    accuracy_plain: float
    accuracy_redacted: float
    # Scenarios whose category or confidence changed when their evidence was redacted.
    changed: list[str]


def redaction_agreement(scenarios: list[Scenario], redact: RedactMessage, rules_dir: str = "") -> Agreement:
    """The rules analyst on the scenarios as written and with alert and evidence redacted."""
    redacted = [msgspec.structs.replace(s, message=redact(s.message)) for s in scenarios]
    plain, with_redaction = run_rules(scenarios, rules_dir), run_rules(redacted, rules_dir)
    changed = [
        a.scenario.name
        for a, b in zip(plain.outcomes, with_redaction.outcomes, strict=False)
        if (a.analysis.category, a.analysis.confidence) != (b.analysis.category, b.analysis.confidence)
    ]
    if len(plain.outcomes) != len(with_redaction.outcomes):
        changed.append("the analyst raised on a different number of scenarios")
    return Agreement(len(scenarios), plain.accuracy, with_redaction.accuracy, changed)


def agreement_lines(agreement: Agreement) -> list[str]:
    lines = [
        f"scenarios with redaction on: accuracy {agreement.accuracy_redacted:.1%} "
        f"(without: {agreement.accuracy_plain:.1%}); {len(agreement.changed)} of "
        f"{agreement.scenarios} answers changed"
    ]
    return lines + [f"  changed: {name}" for name in agreement.changed]


def agreement_shortfalls(agreement: Agreement) -> list[str]:
    if not agreement.changed:
        return []
    return [f"privacy: redaction changed {len(agreement.changed)} scenario answers of the rules analyst"]
