"""A monitoring run's window: the objects new since the checkpoint, the labels they bring,
the window's name, the next checkpoint, and what is written once per window (the
feedback batch, the CloudWatch metrics)."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from features.checkpoint import Checkpoint
from features.s3_objects import (
    S3Object,
    get_json_or_none,
    list_objects,
    put_file,
    put_json,
    read_lines,
)
from monitoring import cloudwatch
from monitoring.analyzer import WindowAnalyzer
from monitoring.ground_truth import read_labels

# The monitor's own logger: these lines belong to its run.
LOG = logging.getLogger("monitor")
MAX_PENDING_LABELS = 100_000


def window_run_id(endpoint: str, consumed: list[S3Object], at: datetime) -> str:
    """Names the window: the same objects give the same name, so a rerun overwrites."""
    digest = hashlib.sha256("\n".join(sorted(o.key for o in consumed)).encode()).hexdigest()
    end = max((o.last_modified for o in consumed), default=at)
    return f"{endpoint}-{end.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest[:12]}"


def published_marker(state_uri: str, run_id: str) -> str:
    """Where a window's "metrics published" marker lives: beside the checkpoint."""
    return f"{state_uri.rsplit('/', 1)[0]}/published/{run_id}.json"


def read_ground_truth(
    s3: Any, checkpoint: Checkpoint, ground_truth_uri: str
) -> tuple[list[S3Object], dict[str, list[str]], Counter[str]]:
    """The ground-truth objects new since the checkpoint, the labels they hold (with those
    still pending from earlier runs), and their unreadable lines by reason."""
    new_truth = (
        checkpoint.ground_truth.select(list_objects(s3, ground_truth_uri))
        if ground_truth_uri
        else []
    )
    labels = dict(checkpoint.pending_labels)
    truth_malformed: Counter[str] = Counter()
    for obj in new_truth:
        read_labels(read_lines(s3, obj), labels, truth_malformed)
    return new_truth, labels, truth_malformed


def consume_capture(
    analyzer: WindowAnalyzer,
    s3: Any,
    labels: dict[str, list[str]],
    new_capture: list[S3Object],
    listed_capture: list[S3Object],
    *,
    now: datetime,
    lookback: timedelta,
) -> None:
    """Profile the new capture; join ``labels`` (the analyzer's, emptied as they are
    joined) with it, and with capture of earlier runs within ``lookback``."""
    for obj in new_capture:
        analyzer.consume(read_lines(s3, obj))
    if labels:
        # Labels usually arrive after their request: join them with capture read
        # by earlier runs too (only joined, never profiled twice).
        start = (new_capture[0].last_modified if new_capture else now) - lookback
        fresh = {o.key for o in new_capture}
        for obj in listed_capture:
            if obj.key not in fresh and obj.last_modified >= start and labels:
                analyzer.consume(read_lines(s3, obj), profile=False)


def upload_feedback(
    s3: Any, feedback_path: Path, feedback_uri: str, run_id: str, *, rows: int
) -> str:
    """Upload the run's ``rows`` joined rows (features and label) as one CSV under
    ``feedback_uri``; where it went, or "" when there is no such folder or no row."""
    if not (feedback_uri and rows):
        return ""
    target = f"{feedback_uri.rstrip('/')}/{run_id}.csv"
    put_file(s3, feedback_path, target)
    return target


def advanced_checkpoint(
    checkpoint: Checkpoint,
    new_capture: list[S3Object],
    new_truth: list[S3Object],
    labels: dict[str, list[str]],
    last_run: dict[str, Any],
) -> dict[str, Any]:
    """The next checkpoint (as JSON): past this run's objects, with the labels still
    waiting for their request (the newest, up to a bound)."""
    return Checkpoint(
        capture=checkpoint.capture.advanced(new_capture),
        ground_truth=checkpoint.ground_truth.advanced(new_truth),
        pending_labels=dict(list(labels.items())[-MAX_PENDING_LABELS:]),
        last_run=last_run,
    ).to_json()


def publish_metrics_once(
    s3: Any,
    cloudwatch_client: Any,
    data: list[cloudwatch.Datum],
    *,
    marker: str,
    run_id: str,
    now: datetime,
) -> int:
    """Publish ``data`` unless an earlier run of this window did; how many were put."""
    # CloudWatch keeps every datapoint put: a rerun of a window whose checkpoint was never
    # saved would count its rows (Sum on the dashboard) twice. A marker per window, saved
    # once its metrics are in, makes the rerun publish nothing.
    if get_json_or_none(s3, marker) is not None:
        LOG.info("window %s: metrics already published by an earlier run", run_id)
        return 0
    published = cloudwatch.publish(cloudwatch_client, data, now)
    put_json(s3, marker, {"run_id": run_id, "at": now.isoformat(), "datums": len(data)})
    return published
