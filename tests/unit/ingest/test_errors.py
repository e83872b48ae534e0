"""_errors.py's docstring is the table of what a sender hears for each refusal: it must stay true."""

from __future__ import annotations

import inspect
import re

from services.ingest import _errors
from services.ingest._errors import BadRequest, Refused, TooLarge, TooManyRequests, Unauthorized

ROW = re.compile(r"^[├└]── (\w+)\s+(\d{3})\b", re.M)


def _documented() -> dict[str, int]:
    return {name: int(status) for name, status in ROW.findall(_errors.__doc__ or "")}


def _refusals() -> dict[str, type[Refused]]:
    return {
        name: value
        for name, value in vars(_errors).items()
        if inspect.isclass(value) and issubclass(value, Refused) and value is not Refused
    }


def test_every_refusal_is_in_the_table_with_the_status_it_answers() -> None:
    documented = _documented()
    assert set(documented) == set(_refusals())
    for name, refusal in _refusals().items():
        assert refusal.status == documented[name], name


def test_headers_the_sender_needs_come_with_the_refusal() -> None:
    assert Unauthorized().headers["WWW-Authenticate"].startswith("Bearer")
    # Rounded up: a client waiting the advertised time must find a token there.
    assert TooManyRequests(9.2).headers == {"Retry-After": "10"}
    assert TooManyRequests(0.01).headers == {"Retry-After": "1"}
    assert TooLarge(1024).reason == "body larger than 1024 bytes"


def test_a_bad_request_quoting_a_secret_from_the_body_does_not_repeat_it() -> None:
    refused = BadRequest("invalid JSON near 'password=hunter2-very-secret'")
    assert "hunter2-very-secret" not in refused.reason
    assert refused.status == 400


def test_an_answer_of_aiohttp_keeps_its_own_status() -> None:
    assert Refused("Not Found", status=404).status == 404
    assert Refused("no status given").status == 400
