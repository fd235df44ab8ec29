"""The run order of tests/scheduling.py: every test once, long ones at the head of each
worker's share, shares sized as pytest-xdist's worksteal sizes them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from xdist.scheduler.worksteal import WorkStealingScheduling

from tests import scheduling

ROOT = Path(__file__).resolve().parents[2]


def test_shares_are_sized_as_worksteal_first_sends_them() -> None:
    # worksteal's first distribution: pending // nodes_remaining to each idle node in turn.
    source = inspect.getsource(WorkStealingScheduling.check_schedule)
    assert "num_send = len(self.pending) // nodes_remaining" in source
    assert scheduling.share_sizes(10, 3) == [3, 3, 4]
    assert scheduling.share_sizes(953, 2) == [476, 477]
    assert scheduling.share_sizes(5, 1) == [5]


def test_long_tests_lead_each_share_balanced_and_nothing_is_lost(monkeypatch) -> None:
    monkeypatch.setattr(scheduling, "LONG", {"a": 100, "b": 60, "c": 50, "d": 30})
    ids = ["x1", "c", "x2", "a", "x3", "d", "x4", "b", "x5", "x6"]
    ordered = scheduling.long_first(ids, ids, 2)
    assert sorted(ordered) == sorted(ids)
    first, second = ordered[:5], ordered[5:]
    # Longest first, each to the lighter share: a + d (130) and b + c (110).
    assert first[:2] == ["a", "d"]
    assert second[:2] == ["b", "c"]
    assert [i for i in ordered if i.startswith("x")] == ["x1", "x2", "x3", "x4", "x5", "x6"]
    assert scheduling.long_first(ids, ids, 1)[:4] == ["a", "b", "c", "d"]


def test_every_recorded_long_test_is_collected(request: pytest.FixtureRequest) -> None:
    collected = {item.nodeid for item in request.session.items}
    files = {node_id.split("::")[0] for node_id in scheduling.LONG}
    if not all(any(n.startswith(f + "::") for n in collected) for f in files):
        # A run of some tests only: their files' names are checked by their text.
        for node_id in scheduling.LONG:
            path, name = node_id.split("::")
            function = re.match(r"\w+", name)
            assert function and f"def {function.group(0)}" in (ROOT / path).read_text()
        return
    assert set(scheduling.LONG) <= collected
