from __future__ import annotations

import json

import pytest
from loguru import logger

from services.runtime import configure_logging


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
