"""Shared pytest set-up: the tiers, and a clean logger for every test."""
import pytest

from xcatha.log import log


@pytest.fixture(autouse=True)
def fresh_log():
    saved = dict(log.__dict__)
    log.secrets = set()
    yield log
    log.__dict__.clear()
    log.__dict__.update(saved)
