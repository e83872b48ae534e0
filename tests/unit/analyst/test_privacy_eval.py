"""`just eval --privacy` through the code the CLI uses: the leak corpus against the floors of issue 16.

The corpus (tests/privacy/corpus) travels as a Loki line does: redacted by the enricher, then into
the analyst's real prompt, anonymised or not. These tests fail while a planted value gets through,
and stay as the guard afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyst.eval import __main__ as cli
from services.analyst.eval._floors import PRIVACY_FLOOR
from services.analyst.eval._privacy import (
    Entry,
    PrivacyReport,
    default_redact,
    load_corpus,
    measure_privacy,
    prompt_text,
)
from services.analyst.eval._privacy_loghub import loghub_present, measure_loghub
from services.analyst.eval._privacy_report import privacy_shortfalls, redaction_agreement
from services.analyst.eval._scenarios import load_scenarios

LOGHUB = Path(__file__).resolve().parents[3] / ".." / "shared" / "benchmarks" / "loghub"


@pytest.fixture(scope="module")
def corpus() -> list[Entry]:
    return load_corpus()


@pytest.fixture(scope="module")
def report(corpus: list[Entry]) -> PrivacyReport:
    redact, present = default_redact()
    assert present, "services.privacy.redact is the enricher's redaction; the figures need it"
    return measure_privacy(corpus, redact, present)


def test_the_corpus_is_as_large_and_varied_as_issue_16_asks(corpus: list[Entry]) -> None:
    planted = [p for entry in corpus for p in entry.planted]
    assert len(planted) >= 200
    assert len({p.kind for p in planted}) >= 12
    assert sum(len(entry.keep) for entry in corpus) >= 100
    assert {entry.format for entry in corpus} >= {"json", "logfmt", "java", "nginx", "k8s-event", "python"}
    for entry in corpus:
        for planted_value in entry.planted:
            assert planted_value.reaches(entry.line), f"{entry.id}: {planted_value.kind} is not in its line"
        for kept in entry.keep:
            assert kept.value in entry.line, f"{entry.id}: {kept.kind} is not in its line"


def test_no_planted_secret_reaches_alerts_enriched_or_the_llm(report: PrivacyReport) -> None:
    assert report.reaching("secret", "enriched") <= PRIVACY_FLOOR.secrets_enriched, report.examples
    assert report.reaching("secret", "llm_off") <= PRIVACY_FLOOR.secrets_llm, report.examples
    assert report.reaching("secret", "llm_on") <= PRIVACY_FLOOR.secrets_llm, report.examples


def test_no_ip_host_email_or_user_reaches_the_llm_with_anonymisation_on(report: PrivacyReport) -> None:
    assert report.total("identifier") >= 100
    assert report.reaching("identifier", "llm_on") <= PRIVACY_FLOOR.identifiers_llm_anonymised, (
        report.examples
    )
    # Off, they are sent as they are: the measurement sees them, so it can see a leak at all.
    assert report.reaching("identifier", "llm_off") == report.total("identifier")


def test_look_alikes_survive_redaction_and_anonymisation(report: PrivacyReport) -> None:
    assert report.masked_share <= PRIVACY_FLOOR.lookalikes_masked, report.examples


def test_kubernetes_names_are_replaced_only_when_asked_for(report: PrivacyReport) -> None:
    assert report.k8s_names >= 10
    assert report.k8s_names_left == 0
    assert report.masked_by_anonymiser["pod-name"] == 0


def test_the_prompt_measured_is_the_analysts_own(corpus: list[Entry]) -> None:
    entry = next(e for e in corpus if any(p.class_ == "identifier" for p in e.planted))
    identifier = next(p for p in entry.planted if p.class_ == "identifier")
    assert identifier.reaches(prompt_text(entry.line, None))
    assert "categories name the cause" not in prompt_text(entry.line, None).lower(), "user message only"


def test_redaction_leaves_the_scenarios_answers_as_they_were() -> None:
    from services.privacy import redact_message

    agreement = redaction_agreement(load_scenarios(), redact_message)
    assert agreement.scenarios >= 50
    assert agreement.changed == []
    assert agreement.accuracy_redacted == agreement.accuracy_plain


def test_the_floors_report_a_leak(corpus: list[Entry]) -> None:
    clean = Entry(id="clean", format="logfmt", line="level=info msg=ok")
    assert privacy_shortfalls(measure_privacy([clean], lambda text: text)) == []
    with_secret = next(e for e in corpus if any(p.class_ == "secret" for p in e.planted))
    unredacted = measure_privacy([with_secret], lambda text: text)
    assert any("secrets reaching the LLM" in line for line in privacy_shortfalls(unredacted))


@pytest.mark.skipif(
    not LOGHUB.is_dir() or not loghub_present(LOGHUB), reason=f"Loghub samples absent at {LOGHUB}"
)
def test_on_real_logs_the_anonymiser_rarely_masks_a_templates_constant_text() -> None:
    figure = measure_loghub(LOGHUB)
    assert figure.lines >= 10_000
    assert figure.masked >= 1000, "real logs carry identifiers: the anonymiser must find some"
    assert figure.constant_share <= PRIVACY_FLOOR.loghub_constant, figure.examples


def test_just_eval_privacy_exits_non_zero_below_a_floor(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    leaky = tmp_path / "corpus.jsonl"
    leaky.write_text(
        '{"id":"x","format":"logfmt","line":"from 10.9.8.7 host db7.acme.corp",'
        '"planted":[{"kind":"ipv4","class":"identifier","value":"10.9.8.7"}],'
        '"keep":[{"kind":"claimed-look-alike","value":"db7.acme.corp"}]}\n',
        encoding="utf-8",
    )
    code = cli.main(["--privacy", "--privacy-corpus", str(leaky), "--benchmarks-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "== privacy (leak corpus) ==" in out
    assert "look-alikes wrongly masked 100.0%" in out
    assert code == 1
