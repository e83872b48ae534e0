"""What the LLM is asked for is the contract's ``schemas.Explanation``, in every place it is asked.

Adding a field to the analysis is one edit in schemas/: the prompt's JSON shape, the repair round's
key list, the response schema and the answer's decoding all follow it.
"""

from __future__ import annotations

import json
import re

import msgspec
import pytest

import schemas
from services.analyst import InvalidAnswer
from services.analyst._answer import answer_schema, parse_answer, to_analysis
from services.analyst._prompt import REPAIR_PROMPT, SYSTEM_PROMPT, answer_shape

FIELDS = list(schemas.Explanation.__struct_fields__)
GOOD = {
    "summary": "s",
    "root_cause": "r",
    "category": "network",
    "confidence": 0.7,
    "evidence": ["e"],
    "remediation": ["x"],
}


def test_the_prompts_json_shape_names_exactly_the_explanations_fields_in_order() -> None:
    shape = answer_shape()
    assert shape in SYSTEM_PROMPT
    assert re.findall(r'^[{ ]"(\w+)": ', shape, re.MULTILINE) == FIELDS
    descriptions = msgspec.json.schema(schemas.Explanation)["$defs"]["Explanation"]["properties"]
    for name in FIELDS:
        assert f"<{descriptions[name]['description']}>" in shape


def test_the_repair_round_asks_for_exactly_the_explanations_keys() -> None:
    asked = re.search(r"exactly the keys (.*?);", REPAIR_PROMPT)
    assert asked is not None
    assert asked.group(1).split(", ") == FIELDS
    filled = REPAIR_PROMPT.format(error="x", categories=", ".join(schemas.CATEGORIES))
    assert "dependency_failure" in filled


def test_the_response_schema_is_the_explanations_with_non_empty_texts() -> None:
    schema = answer_schema()["schema"]
    assert list(schema["properties"]) == FIELDS
    assert schema["additionalProperties"] is False
    assert {name for name, field in schema["properties"].items() if field.get("minLength") == 1} == {
        "summary",
        "root_cause",
    }


def test_an_answer_with_an_empty_text_is_refused_for_repair() -> None:
    with pytest.raises(InvalidAnswer, match="empty summary"):
        parse_answer(json.dumps({**GOOD, "summary": ""}))


def test_the_analysis_keeps_every_field_of_the_answer() -> None:
    answer = parse_answer(json.dumps(GOOD))
    analysis = to_analysis(answer, model="m", prompt_tokens=3, completion_tokens=2)
    assert {name: getattr(analysis, name) for name in FIELDS} == msgspec.structs.asdict(answer)
    assert (analysis.analyzer, analysis.model, analysis.prompt_tokens) == ("llm", "m", 3)
