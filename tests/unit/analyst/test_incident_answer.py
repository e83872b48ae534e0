"""An LLM's answer about an incident always names the root alert's object, matched as a whole name."""

from __future__ import annotations

import pytest

import schemas
from services.analyst._incident_analysis import _naming_the_root
from services.analyst.eval import build_message


def _answer(root_cause: str) -> schemas.Analysis:
    return schemas.Analysis(
        summary="s", root_cause=root_cause, category="availability", confidence=0.7, analyzer="llm"
    )


def _root(**labels: str) -> schemas.EnrichedAlert:
    return build_message({"alert": {"labels": labels, "startsAt": "2024-05-14T09:12:00Z"}})


@pytest.mark.parametrize(
    ("root_cause", "named"),
    [
        ("Node ip-10-0-1-7 stopped reporting.", True),
        ("The kubelet of ip-10-0-1-7, NotReady since 09:12, took its pods down", True),
        # Another node whose name starts the same is not the root's.
        ("Node ip-10-0-1-70 stopped reporting.", False),
        # The alert's name alone does not say where.
        ("KubeNodeNotReady fired; the pods followed.", False),
    ],
)
def test_the_roots_node_must_be_named_as_a_whole_name(root_cause: str, named: bool) -> None:
    root = _root(alertname="KubeNodeNotReady", node="ip-10-0-1-7")
    analysis = _naming_the_root(_answer(root_cause), root)
    expected = root_cause if named else f"{root_cause} (root alert: KubeNodeNotReady on ip-10-0-1-7)"
    assert analysis.root_cause == expected


def test_a_host_without_its_port_names_the_instance() -> None:
    root = _root(alertname="PostgresDown", instance="db-main:5432")
    answer = _answer("db-main refuses connections: max_connections reached")
    assert _naming_the_root(answer, root) == answer


def test_without_object_labels_the_alert_name_is_enough() -> None:
    root = _root(alertname="WatchdogMissing")
    assert _naming_the_root(_answer("WatchdogMissing: the pipeline is dead"), root).root_cause == (
        "WatchdogMissing: the pipeline is dead"
    )
    assert _naming_the_root(_answer("the pipeline is dead"), root).root_cause.endswith(
        "(root alert: WatchdogMissing)"
    )
