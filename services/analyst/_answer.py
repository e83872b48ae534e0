"""The LLM's answer: decoded strictly, so a bad answer is repaired or replaced, never published."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

import schemas


class LlmAnswer(msgspec.Struct, kw_only=True, frozen=True):
    summary: Annotated[str, msgspec.Meta(min_length=1)]
    root_cause: Annotated[str, msgspec.Meta(min_length=1)]
    category: schemas.Category
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    evidence: list[str] = []
    remediation: list[str] = []


class InvalidAnswer(Exception):
    """The model's text is not the JSON object asked for; the message says what is wrong."""


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_decoder = msgspec.json.Decoder(LlmAnswer)


def parse_answer(text: str | None) -> LlmAnswer:
    if not text or not text.strip():
        raise InvalidAnswer("the answer was empty")
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidAnswer(f"the JSON does not fit the schema ({exc})") from exc
    except msgspec.DecodeError as exc:
        raise InvalidAnswer(f"the answer is not valid JSON ({exc})") from exc


def answer_schema() -> dict[str, Any]:
    """JSON schema for providers with ``response_format: json_schema``."""
    schema = msgspec.json.schema(LlmAnswer)
    definitions = schema.get("$defs", {})
    body: dict[str, Any] = definitions.get("LlmAnswer", schema)
    return {"name": "alert_analysis", "schema": {**body, "additionalProperties": False}}


def to_analysis(
    answer: LlmAnswer, *, model: str, prompt_tokens: int, completion_tokens: int
) -> schemas.Analysis:
    return schemas.Analysis(
        summary=answer.summary,
        root_cause=answer.root_cause,
        category=answer.category,
        confidence=answer.confidence,
        evidence=answer.evidence,
        remediation=answer.remediation,
        analyzer="llm",
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
