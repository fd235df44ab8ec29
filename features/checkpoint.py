"""What the monitor has consumed, so each captured file is read once and none is skipped.

Per stream (capture, ground truth) the checkpoint keeps a watermark (the newest
``LastModified`` consumed) and the keys consumed within ``OVERLAP`` before it. A run
takes every listed object that is not among those keys and is not older than
``watermark - OVERLAP``: an object that lands late, or in the same second as the last
one consumed, is still read, and one already read is never read again. The state stays
small: keys older than the overlap are forgotten, since nothing that old can be new.

The monitor writes the checkpoint only after its outputs, so a run that dies part way
is repeated whole by the next one (same objects, same results), never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from features.s3_objects import S3Object

VERSION = 1
OVERLAP = timedelta(hours=1)


@dataclass
class StreamState:
    watermark: datetime | None = None
    recent: dict[str, datetime] = field(default_factory=dict)

    def select(self, listed: list[S3Object]) -> list[S3Object]:
        """Objects not consumed yet, oldest first."""
        floor = self.watermark - OVERLAP if self.watermark else None
        fresh = [
            o
            for o in listed
            if o.key not in self.recent and (floor is None or o.last_modified >= floor)
        ]
        return sorted(fresh, key=lambda o: (o.last_modified, o.key))

    def advanced(self, consumed: list[S3Object]) -> StreamState:
        """The state after ``consumed`` (a new object: the old one is left as it was)."""
        if not consumed and self.watermark is None:
            return StreamState()
        times = [o.last_modified for o in consumed]
        watermark = max([*times, *([self.watermark] if self.watermark else [])])
        keys = {**self.recent, **{o.key: o.last_modified for o in consumed}}
        floor = watermark - OVERLAP
        return StreamState(watermark, {k: t for k, t in keys.items() if t >= floor})

    def to_json(self) -> dict[str, Any]:
        return {
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "recent_keys": {k: t.isoformat() for k, t in sorted(self.recent.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> StreamState:
        if not data:
            return cls()
        watermark = data.get("watermark")
        return cls(
            datetime.fromisoformat(watermark) if watermark else None,
            {k: datetime.fromisoformat(t) for k, t in (data.get("recent_keys") or {}).items()},
        )


@dataclass
class Checkpoint:
    capture: StreamState = field(default_factory=StreamState)
    ground_truth: StreamState = field(default_factory=StreamState)
    # Labels whose capture has not been seen yet (ground truth may arrive first).
    pending_labels: dict[str, list[str]] = field(default_factory=dict)
    last_run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "capture": self.capture.to_json(),
            "ground_truth": self.ground_truth.to_json(),
            "pending_labels": self.pending_labels,
            "last_run": self.last_run,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Checkpoint:
        if not data:
            return cls()
        if data.get("version") != VERSION:
            raise ValueError(f"checkpoint version {data.get('version')!r} is not {VERSION}")
        return cls(
            capture=StreamState.from_json(data.get("capture")),
            ground_truth=StreamState.from_json(data.get("ground_truth")),
            pending_labels=dict(data.get("pending_labels") or {}),
            last_run=dict(data.get("last_run") or {}),
        )
