"""Memory's ranking: the same alert family first, what people confirmed above unreviewed answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import schemas
from services.history._similar import Memory, Past, Recalled, family, label_terms, rank

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
OOM_LOGS = ("java.lang.OutOfMemoryError: Java heap space", "GC overhead: pause <*>ms, heap <*>/<*>")


def past(
    id: str,
    alertname: str,
    labels: dict[str, str],
    templates: tuple[str, ...] = (),
    *,
    days_ago: float = 1,
    verdict: schemas.Verdict | None = None,
    cause: str = "",
) -> Past:
    feedback = (
        schemas.Feedback(
            id=f"f-{id}",
            target="alert",
            target_id=id,
            verdict=verdict,
            actual_cause=cause,
            actual_fix="raised the heap limit" if cause else "",
            given_at=NOW,
        )
        if verdict
        else None
    )
    return Past(
        id=id,
        alertname=alertname,
        labels={"alertname": alertname, **labels},
        templates=templates,
        received_at=NOW - timedelta(days=days_ago),
        category="memory_pressure",
        root_cause="the JVM ran out of heap",
        remediation=("raise -Xmx",),
        feedback=feedback,
    )


SHOP = {"namespace": "shop", "pod": "checkout-api-7d9f8b6c4-x2x9k", "container": "checkout-api"}


def test_family_drops_severity_words_only() -> None:
    assert family("HostHighCpuLoadWarning") == family("HostHighCpuLoadCritical") == "host cpu load"
    assert family("KubePodCrashLooping") == "kube pod crash looping"
    assert family("KubePodCrashLooping") != family("KubePodNotReady")


def test_a_pods_generated_suffix_is_not_part_of_its_place() -> None:
    assert label_terms({"pod": "checkout-api-7d9f8b6c4-x2x9k"}) == ["pod=checkout-api"]
    assert label_terms({"pod": "checkout-api-5b6c7d8f9-qzr2m"}) == ["pod=checkout-api"]
    # A name that merely ends in five letters keeps them.
    assert label_terms({"pod": "web-proxy", "severity": "page"}) == ["pod=web-proxy"]


def test_a_past_alert_of_the_same_family_ranks_first() -> None:
    current = past("now", "KubePodCrashLooping", SHOP, OOM_LOGS, days_ago=0)
    same_family = past("a", "KubePodCrashLooping", {**SHOP, "pod": "checkout-api-5b6c7d8f9-qzr2m"}, OOM_LOGS)
    # Another rule on the very same pod with the same logs: similar, but another family.
    neighbour = past("b", "KubeContainerOOMKilled", SHOP, OOM_LOGS)
    unrelated = past("c", "NodeDiskFull", {"instance": "db-1:9100"}, ("no space left on device",))
    ranked = rank(current, [unrelated, neighbour, same_family])
    assert [r.past.id for r in ranked] == ["a", "b"]
    assert ranked[0].same_family
    assert not ranked[1].same_family
    assert ranked[0].similarity > 0.6


def test_confirmed_feedback_outranks_the_analysts_own_earlier_answer() -> None:
    current = past("now", "KubePodCrashLooping", SHOP, OOM_LOGS, days_ago=0)
    unreviewed = past("fresh", "KubePodCrashLooping", SHOP, OOM_LOGS, days_ago=1)
    confirmed = past(
        "old",
        "KubePodCrashLooping",
        {**SHOP, "container": "sidecar"},
        OOM_LOGS[:1],
        days_ago=20,
        verdict="confirmed",
    )
    ranked = rank(current, [unreviewed, confirmed])
    assert [r.past.id for r in ranked] == ["old", "fresh"]
    # The unreviewed one is the closer match: the order comes from the verdict, not the score.
    assert ranked[0].similarity < ranked[1].similarity
    assert ranked[0].standing == "confirmed by a person"
    assert ranked[1].standing == "the analyst's answer, not reviewed"


def test_a_correction_replaces_the_analysts_cause_and_fix() -> None:
    corrected = past(
        "x", "KubePodCrashLooping", SHOP, verdict="corrected", cause="a memory leak in the PDF renderer"
    )
    wrong_only = past("y", "KubePodCrashLooping", SHOP, verdict="corrected")
    confirmed = past("z", "KubePodCrashLooping", SHOP, verdict="confirmed")
    recalled = {p.id: Recalled(p, 1.0, True) for p in (corrected, wrong_only, confirmed)}
    assert (recalled["x"].cause, recalled["x"].fix) == (
        "a memory leak in the PDF renderer",
        "raised the heap limit",
    )
    # Said to be wrong with no better cause: the analyst's answer is not repeated as if it held.
    assert (recalled["y"].cause, recalled["y"].fix) == ("", "")
    assert (recalled["z"].cause, recalled["z"].fix) == ("the JVM ran out of heap", "raise -Xmx")
    memory = Memory(list(recalled.values()), fired_this_week=3)
    assert memory.last_reviewed is not None


def test_the_alert_itself_and_weak_strangers_are_left_out() -> None:
    current = past("now", "KubePodCrashLooping", SHOP, OOM_LOGS, days_ago=0)
    stranger = past("s", "HighRequestLatency", {"service": "search"}, ("timeout calling <*>",))
    assert rank(current, [current, stranger]) == []


def test_the_notification_line_counts_this_firing_and_quotes_the_last_confirmed_cause() -> None:
    older = past("o", "KubePodCrashLooping", SHOP, days_ago=30, verdict="confirmed")
    newer = past(
        "n", "KubePodCrashLooping", SHOP, days_ago=2, verdict="corrected", cause="a leak\nin the renderer"
    )
    unjudged = past("u", "KubePodCrashLooping", SHOP, days_ago=1)
    recalled = [Recalled(p, 0.9, True) for p in (older, newer, unjudged)]
    assert Memory(recalled, fired_this_week=2).line == (
        "fired 3 times this week; last confirmed cause: a leak in the renderer,"
        " fixed by raised the heap limit"
    )
    assert Memory([Recalled(unjudged, 0.9, True)], fired_this_week=0).line == ""


def test_the_console_section_shows_causes_as_text() -> None:
    from services.console._similar import similar_section

    hostile = past("h", "KubePodCrashLooping", SHOP, verdict="corrected", cause="<script>alert(1)</script>")
    html = similar_section(Memory([Recalled(hostile, 0.5, True)], fired_this_week=0))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert similar_section(Memory([], fired_this_week=0)) == ""
