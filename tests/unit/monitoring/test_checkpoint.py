"""The checkpoint: every object is read once; none is skipped, late or same-second ones included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from features.checkpoint import OVERLAP, Checkpoint, StreamState
from features.s3_objects import S3Object

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def obj(key: str, seconds: float) -> S3Object:
    return S3Object("b", key, T0 + timedelta(seconds=seconds), 1)


def test_objects_are_read_once_in_order_and_none_is_skipped() -> None:
    state = StreamState()
    first = [obj("a", 0), obj("b", 1)]
    assert [o.key for o in state.select(first)] == ["a", "b"]
    state = state.advanced(first)
    # "c" shares b's second; "late" carries an older time than the watermark (a slow
    # upload) but lands within the overlap; "old" is already consumed.
    listed = [*first, obj("c", 1), obj("late", -600), obj("d", 5)]
    fresh = state.select(listed)
    assert [o.key for o in fresh] == ["late", "c", "d"]
    state = state.advanced(fresh)
    assert state.select(listed) == []


def test_a_run_that_did_not_save_its_checkpoint_is_repeated_whole() -> None:
    state = StreamState().advanced([obj("a", 0)])
    listed = [obj("a", 0), obj("b", 10), obj("c", 20)]
    first_try = state.select(listed)  # ... the run dies before writing the checkpoint
    assert [o.key for o in state.select(listed)] == [o.key for o in first_try] == ["b", "c"]


def test_state_stays_small_and_round_trips_through_json() -> None:
    consumed = [obj(f"k{i}", i * 600) for i in range(24)]  # four hours of files
    state = StreamState().advanced(consumed)
    assert state.watermark == T0 + timedelta(seconds=23 * 600)
    assert all(t >= state.watermark - OVERLAP for t in state.recent.values())
    assert len(state.recent) == 7
    checkpoint = Checkpoint(capture=state, pending_labels={"e": ["1"]})
    again = Checkpoint.from_json(checkpoint.to_json())
    assert again.capture == state and again.pending_labels == {"e": ["1"]}
    assert Checkpoint.from_json(None).capture.watermark is None
