from __future__ import annotations

import asyncio
import json

import pytest
from loguru import logger

from services.runtime import configure_logging
from services.runtime._logging import about_alert


def test_json_lines_carry_stage_and_alert_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("analyst", "INFO", "json")
    with logger.contextualize(alert_id="4f2a"):
        logger.info("analysed in {} ms", 12)
    logger.debug("below the level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["msg"] == "analysed in 12 ms"
    assert lines[0]["stage"] == "analyst"
    assert lines[0]["alert_id"] == "4f2a"
    assert lines[0]["level"] == "INFO"


def test_text_lines_name_the_stage(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notifier", "INFO", "text")
    logger.warning("slack answered 500")
    err = capsys.readouterr().err
    assert "notifier" in err
    assert "slack answered 500" in err


def test_lines_logged_while_an_alert_is_handled_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("enricher", "INFO", "json")
    with about_alert("9c1d"):
        logger.warning("prometheus answered 503")
        with logger.contextualize(alert_id="inner"):
            logger.info("a caller's own binding wins")
    logger.info("between alerts")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line.get("alert_id") for line in lines] == ["9c1d", "inner", None]


async def test_tasks_started_while_an_alert_is_handled_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notifier", "INFO", "text")

    async def post() -> None:
        logger.info("posted to slack")

    with about_alert("77aa"):
        task = asyncio.create_task(post())
    await task
    assert " 77aa posted to slack" in capsys.readouterr().err
