"""A request's JSON body, read within ingest's limits: declared as JSON, not too large, not too slow."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.ingest._errors import RequestTimeout, TooLarge, UnsupportedMediaType
from services.ingest._settings import IngestSettings

JSON_TYPES = ("application/json", "text/json")


async def json_body(request: web.Request, settings: IngestSettings) -> bytes:
    """The raw body, unparsed (that is _parse.py's); no Content-Type at all is taken as JSON."""
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"unsupported Content-Type {content_type!r}: send application/json")
    if (request.content_length or 0) > settings.ingest_max_body_bytes:
        raise TooLarge(settings.ingest_max_body_bytes)
    try:
        return await asyncio.wait_for(request.read(), timeout=settings.ingest_body_timeout_seconds)
    except TimeoutError as exc:
        raise RequestTimeout("request body not received in time") from exc
