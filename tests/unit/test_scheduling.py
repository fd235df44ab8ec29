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


def test_a_files_tests_stay_together_on_one_share(monkeypatch) -> None:
    # Two tests sharing a module fixture: dealt as one unit, in collection order.
    monkeypatch.setattr(scheduling, "LONG", {"f.py": 90, "a": 100, "b": 20})
    ids = ["f.py::t1", "x1", "a", "x2", "f.py::t2", "b", "x3", "x4"]
    ordered = scheduling.long_first(ids, ids, 2)
    assert sorted(ordered) == sorted(ids)
    first, second = ordered[:4], ordered[4:]
    # a (100) on one share; f.py's two tests (90) then b (20) on the lighter other one.
    assert first[:2] == ["a", "x1"]
    assert second[:3] == ["f.py::t1", "f.py::t2", "b"]


def test_every_recorded_long_test_is_collected(request: pytest.FixtureRequest) -> None:
    for entry in scheduling.LONG:
        path, _, name = entry.partition("::")
        assert (ROOT / path).is_file(), entry
        function = re.match(r"\w+", name)
        assert not name or (function and f"def {function.group(0)}" in (ROOT / path).read_text())
    collected = {item.nodeid for item in request.session.items}
    files = {entry.split("::")[0] for entry in scheduling.LONG}
    if all(any(n.startswith(f + "::") for n in collected) for f in files):
        # The whole suite is collected: every entry names collected tests exactly.
        for entry in scheduling.LONG:
            assert entry in collected or any(n.startswith(entry + "::") for n in collected), entry
