"""A summary or root cause given as variants: the first whose conditions hold is the one read."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote_plus

import pytest

from services.analyst import RulesAnalyst, load_catalogue
from services.analyst._catalogue import Variant, chosen
from services.analyst.eval import build_message
from services.runtime import ConfigError

RULE = """
rules:
  - id: shop-memory
    category: memory_pressure
    priority: 95
    when: [{alertname: ['ShopMemory']}]
    summary: "${alertname} on ${target}: memory is low"
    root_cause:
      - text: "${target} swaps: the swap space is filling."
        when: {expr: '.*node_memory_Swap.*'}
      - text: "${target} is a development box."
        when: {env: dev}
        unless: {expr: '.*oom.*'}
      - text: "${target} is short of memory."
"""


def _catalogue(tmp_path: Path, text: str) -> Path:
    (tmp_path / "shop.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _analysis(analyst: RulesAnalyst, expr: str, **labels: str) -> str:
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "ShopMemory", "instance": "shop-1:9100", **labels},
                "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(expr),
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    return analyst.analyze(message).root_cause


def test_the_first_variant_that_applies_is_chosen_and_the_last_is_the_default() -> None:
    variants = [
        Variant(text="swap", when={"expr": ".*Swap.*"}),
        Variant(text="not dev", unless={"env": "dev"}),
        Variant(text="default"),
    ]
    assert chosen(variants, {"expr": "node_memory_SwapFree_bytes < 1", "env": "dev"}) == "swap"
    assert chosen(variants, {"expr": "x", "env": "prod"}) == "not dev"
    assert chosen(variants, {"expr": "x", "env": "dev"}) == "default"
    assert chosen("plain text", {}) == "plain text"


def test_a_rule_words_its_root_cause_by_what_the_expression_measures(tmp_path: Path) -> None:
    analyst = RulesAnalyst(load_catalogue(str(_catalogue(tmp_path, RULE))))
    swap = _analysis(analyst, "node_memory_SwapFree_bytes / node_memory_SwapTotal_bytes < 0.2")
    assert swap == "Target shop-1:9100 swaps: the swap space is filling."
    dev = _analysis(analyst, "node_memory_MemAvailable_bytes < 1e9", env="dev")
    assert dev.endswith("a development box.")
    # `unless` holds: the development variant is skipped for the default.
    assert _analysis(analyst, "node_vmstat_oom_kill > 0", env="dev").endswith("is short of memory.")


def test_a_plain_string_still_loads_and_reads_as_before(tmp_path: Path) -> None:
    analyst = RulesAnalyst(load_catalogue(str(_catalogue(tmp_path, RULE))))
    labels = {"alertname": "ShopMemory", "instance": "shop-1:9100"}
    message = build_message({"alert": {"labels": labels, "startsAt": "2024-05-14T09:12:00Z"}})
    assert analyst.analyze(message).summary == "ShopMemory on shop-1:9100: memory is low"


@pytest.mark.parametrize(
    ("root_cause", "error"),
    [
        ("[{text: 'a', when: {expr: '.*x.*'}}]", r"rule 'shop-memory': the last variant of root_cause must"),
        ("[{text: 'a', unless: {platform: host}}]", r"rule 'shop-memory': the last variant of root_cause"),
        ("[]", r"rule 'shop-memory': root_cause has an empty list of variants"),
        ("[{step: 'a'}]", r"rule 'shop-memory': .*unknown field `step`"),
        ("{text: 'a'}", r"rule 'shop-memory': Expected `str \| array`"),
        ("[{text: 'a', when: {expr: '('}}, {text: b}]", r"rule 'shop-memory': bad regex"),
    ],
)
def test_a_wrong_variant_list_is_an_error_naming_the_rule(
    tmp_path: Path, root_cause: str, error: str
) -> None:
    text = f"""
rules:
  - id: other
    when: [{{alertname: ['Other']}}]
  - id: shop-memory
    when: [{{alertname: ['ShopMemory']}}]
    root_cause: {root_cause}
"""
    with pytest.raises(ConfigError, match=r"shop\.yaml: " + error):
        load_catalogue(str(_catalogue(tmp_path, text)))
