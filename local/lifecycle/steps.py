"""What every lifecycle step shares: the numbered step runner, the summary file, the
stop on a failed pipeline execution, and the run's sizes."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from glue.validate import ProcessedCounts
from local.pipeline.pipeline_runtime import Execution

T = TypeVar("T")
STEPS = 11
# Shifted rows per monitor window: at least this many, and 1/8 of the first batch, so the
# two windows' feedback is about a fifth of curated. The quality gate scores the approved
# v1 on v2's test split, which is mostly pre-shift rows (many of them v1's own training
# rows): with much less feedback v2 cannot beat v1 there, and is rightly not registered.
MIN_ROWS_PER_WINDOW = 1000
WINDOW_SHARE_OF_BATCH = 8
HOLDOUT_ROWS = 2000
# The user's records held out of training as live traffic (``--raw``).
USER_HOLDOUT_SHARE = 0.25


@dataclass(frozen=True)
class UserTraffic:
    """The user's held-out rows (valid, typed as in the processed zone), in three parts:
    monitor window 1, window 2, and the endpoint probe's rows (never labelled, so never
    fed back), which are also v1 vs v2's rows."""

    frame: pd.DataFrame

    def part(self, index: int) -> pd.DataFrame:
        third = len(self.frame) // 3
        return self.frame.iloc[index * third : (index + 1) * third if index < 2 else None]


def step(number: int | str, title: str, work: Callable[[], T]) -> tuple[T, float]:
    """Run one lifecycle step, showing that it started and how long it took (``number``:
    of the 11, or a name for a step outside them, such as ``make batch``'s)."""
    label = f"[{number}/{STEPS}]" if isinstance(number, int) else f"[{number}]"
    print(f"{label} {title} ...", flush=True)
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label} {title}: done in {seconds:.1f}s", flush=True)
    return result, seconds


def merge_counts(counts: list[ProcessedCounts]) -> dict[str, Any]:
    """Sum per-batch raw -> processed counts into one zone summary."""
    total: dict[str, Any] = {
        "input_rows": 0,
        "valid_rows": 0,
        "quarantined_rows": 0,
        "duplicates_dropped": 0,
        "quarantined_by_reason": {},
    }
    for batch in counts:
        for key in ("input_rows", "valid_rows", "quarantined_rows", "duplicates_dropped"):
            total[key] += getattr(batch, key)
        for reason, count in batch.quarantined_by_reason.items():
            total["quarantined_by_reason"][reason] = (
                total["quarantined_by_reason"].get(reason, 0) + count
            )
    total["quarantined_by_reason"] = dict(sorted(total["quarantined_by_reason"].items()))
    total["balanced"] = all(batch.balanced for batch in counts)
    return total


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    """``summary.json`` in the run's folder (also written before a run stops on a failure)."""
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def fail_on(
    execution: Execution, out: Path, summary: dict[str, Any], pipeline: str = "training"
) -> None:
    """A failed execution stops the run (non-zero exit) with its reason and log tail."""
    if execution.status == "Succeeded":
        return
    write_summary(out, summary)
    for record in execution.steps:
        if record.status == "Failed" and record.log_tail:
            print(f"--- {record.name} log (last lines) ---", file=sys.stderr)
            print(record.log_tail, file=sys.stderr)
    raise SystemExit(f"the {pipeline} pipeline failed: {execution.failure_reason}")
