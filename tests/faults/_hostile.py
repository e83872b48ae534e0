"""Hypothesis strategies for what a hostile or broken sender posts to ingest."""

from __future__ import annotations

import json

import orjson
from hypothesis import strategies as st

VALID_START = "2026-01-01T10:00:00Z"

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
# Mostly strings (right type), sometimes anything (wrong type).
label_values = st.text(max_size=60) | json_values
label_sets = st.dictionaries(st.text(max_size=24), label_values, max_size=8).map(
    lambda labels: {"alertname": "Fuzz", **labels} if labels and "alertname" not in labels else labels
)
times = (
    st.sampled_from([VALID_START, "yesterday", "", "0001-01-01T00:00:00Z", "2026-13-45T99:00:00"])
    | json_values
)


def _alert() -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {"labels": label_sets | json_values},
        optional={
            "status": st.sampled_from(["firing", "resolved", "pending"]) | json_values,
            "annotations": label_sets | json_values,
            "startsAt": times,
            "endsAt": times,
            "fingerprint": st.text(max_size=40) | json_values,
            "generatorURL": st.text(max_size=40) | json_values,
        },
    )


webhook_shaped = st.fixed_dictionaries(
    {"alerts": st.lists(_alert(), max_size=4) | json_values},
    optional={
        "version": st.sampled_from(["4", "3", "", "4.1"]) | json_values,
        "status": st.sampled_from(["firing", "resolved"]) | json_values,
        "groupKey": st.text(max_size=20) | json_values,
        "receiver": st.text(max_size=20) | json_values,
        "groupLabels": label_sets | json_values,
        "commonLabels": label_sets | json_values,
        "truncatedAlerts": st.integers() | json_values,
    },
)
manual_shaped = st.fixed_dictionaries(
    {"labels": label_sets | json_values},
    optional={"annotations": label_sets | json_values, "startsAt": times, "generatorURL": json_values},
)


def huge_label_set(size: int) -> bytes:
    labels = {"alertname": "Huge", **{f"label_{i}": "x" * 20 for i in range(size)}}
    alert = {"status": "firing", "labels": labels, "startsAt": VALID_START}
    return orjson.dumps({"version": "4", "status": "firing", "alerts": [alert]})


def deeply_nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"alerts":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def oversized(size: int) -> bytes:
    alert = {"status": "firing", "labels": {"alertname": "Big", "pad": "x" * size}, "startsAt": VALID_START}
    return orjson.dumps({"version": "4", "status": "firing", "alerts": [alert]})


def encode(value: object) -> bytes:
    """Any JSON the stdlib writes: huge integers, NaN, lone surrogates (invalid UTF-8) included."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


def bodies(shaped: st.SearchStrategy[dict[str, object]], max_body: int) -> st.SearchStrategy[bytes]:
    """Every kind of body the issue names: malformed, oversized, nested, wrong-type, non-UTF-8, huge."""
    encoded = shaped.map(encode)
    return st.one_of(
        encoded,
        json_values.map(encode),
        st.binary(max_size=512),
        st.text(max_size=200).map(lambda t: t.encode("utf-16")),
        st.builds(lambda body, cut: body[:cut], encoded, st.integers(0, 200)),
        st.builds(lambda body, junk: body + junk, encoded, st.binary(min_size=1, max_size=8)),
        st.integers(100, 3000).map(huge_label_set),
        st.builds(deeply_nested, st.integers(10, 100_000), st.sampled_from(["list", "object"])),
        st.integers(max_body + 1, max_body * 3).map(oversized),
    )


content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
     "application/vnd.api+json", ""]
)  # fmt: skip
