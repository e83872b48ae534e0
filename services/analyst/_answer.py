"""The LLM's answer: decoded strictly, so a bad answer is repaired or replaced, never published."""

from __future__ import annotations

import re
from typing import Any

import msgspec

import schemas
from services.analyst._errors import InvalidAnswer

# The fields are the analysis' own, defined once in the contract; the analyst is only stricter
# about them than a reader of alerts.analyzed: no text field of an answer may be empty.
LlmAnswer = schemas.Explanation


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_decoder = msgspec.json.Decoder(LlmAnswer)
_SCHEMA: dict[str, Any] = msgspec.json.schema(LlmAnswer)["$defs"][LlmAnswer.__name__]
_TEXT_FIELDS = tuple(name for name, field in _SCHEMA["properties"].items() if field.get("type") == "string")


def parse_answer(text: str | None) -> LlmAnswer:
    if not text or not text.strip():
        raise InvalidAnswer("the answer was empty")
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        answer = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidAnswer(f"the JSON does not fit the schema ({exc})") from exc
    except msgspec.DecodeError as exc:
        raise InvalidAnswer(f"the answer is not valid JSON ({exc})") from exc
    empty = [name for name in _TEXT_FIELDS if not getattr(answer, name)]
    if empty:
        raise InvalidAnswer(f"the JSON does not fit the schema (empty {', '.join(empty)})")
    return answer


def answer_schema() -> dict[str, Any]:
    """JSON schema for providers with ``response_format: json_schema``."""
    properties = {
        name: {**field, "minLength": 1} if name in _TEXT_FIELDS else field
        for name, field in _SCHEMA["properties"].items()
    }
    body = {**_SCHEMA, "properties": properties, "additionalProperties": False}
    return {"name": "alert_analysis", "schema": body}


def to_analysis(
    answer: LlmAnswer, *, model: str, prompt_tokens: int, completion_tokens: int
) -> schemas.Analysis:
    return schemas.Analysis(
        **msgspec.structs.asdict(answer),
        analyzer="llm",
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
