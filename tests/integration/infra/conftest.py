"""Paths of the repository's deployment files, shared by the infra tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# `infra` is not an installed package (the image does not need it); tests import it from the checkout.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
