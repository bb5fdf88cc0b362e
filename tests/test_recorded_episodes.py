"""Every recorded episode is, bit for bit, what it was when recorded (tests/data/recorded_episodes.json).

The digests were written by ``tests/data/record_episodes.py`` from the simulator as it stood
before its dynamics became one shared implementation (issue 29): the lone environment on seven
configurations, the vector environment through autoreset, the bounds' forks, a mixture and the
server's conversions. A refactoring that changes any bit of any of them fails here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("record_episodes", DATA / "record_episodes.py")
record_episodes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record_episodes)

COMMITTED = json.loads((DATA / "recorded_episodes.json").read_text())["sha256"]


def test_every_case_is_recorded_and_every_recorded_case_is_run() -> None:
    assert sorted(record_episodes.cases()) == sorted(COMMITTED)


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_the_episode_is_bit_identical_to_the_recorded_one(name: str) -> None:
    assert record_episodes._digest(record_episodes.cases()[name]()) == COMMITTED[name]
