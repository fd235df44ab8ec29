"""Data capture as a SageMaker real-time endpoint writes it, into S3 (moto locally).

One JSON line per captured invocation::

    {"captureData": {"endpointInput":  {"observedContentType": ..., "mode": "INPUT",
                                        "data": ..., "encoding": "CSV" | "JSON" | "BASE64"},
                     "endpointOutput": {... "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": <uuid>, "inferenceTime": "2026-11-23T21:42:26Z"},
     "eventVersion": "0"}

Files are grouped by the hour of their first record, as SageMaker does:
``s3://<bucket>/<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-fff>-<uuid>.jsonl``.

The request path only appends to an in-memory buffer; a background thread uploads it
every ``flush_seconds`` (or sooner when ``flush_records`` accumulate), so capture
does not put S3 latency on the request path. ``close()`` uploads what is left.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger("data_capture")
# Records kept for a retry when S3 is unreachable; beyond this the oldest are dropped
# (and counted), so a long outage cannot exhaust the worker's memory.
MAX_PENDING_RECORDS = 100_000
TEXT_ENCODINGS = {"text/csv": "CSV", "application/json": "JSON", "application/jsonlines": "JSON"}


@dataclass(frozen=True, kw_only=True)
class CaptureConfig:
    """Where and how much to capture (the endpoint config's DataCaptureConfig)."""

    bucket: str
    prefix: str
    endpoint: str
    variant: str
    sampling_percentage: int = 100
    flush_seconds: float = 1.0
    flush_records: int = 500

    @classmethod
    def from_env(cls, env: dict[str, str]) -> CaptureConfig | None:
        """Built from ``CAPTURE_*`` variables; None when ``CAPTURE_BUCKET`` is unset."""
        if not env.get("CAPTURE_BUCKET"):
            return None
        return cls(
            bucket=env["CAPTURE_BUCKET"],
            prefix=env.get("CAPTURE_PREFIX", "data-capture"),
            endpoint=env["CAPTURE_ENDPOINT"],
            variant=env.get("CAPTURE_VARIANT", "AllTraffic"),
            sampling_percentage=int(env.get("CAPTURE_SAMPLING_PERCENTAGE", "100")),
        )

    def to_env(self) -> dict[str, str]:
        return {
            "CAPTURE_BUCKET": self.bucket,
            "CAPTURE_PREFIX": self.prefix,
            "CAPTURE_ENDPOINT": self.endpoint,
            "CAPTURE_VARIANT": self.variant,
            "CAPTURE_SAMPLING_PERCENTAGE": str(self.sampling_percentage),
        }


def _payload(content_type: str, body: bytes, mode: str) -> dict[str, str]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    encoding = TEXT_ENCODINGS.get(media_type)
    if encoding is not None:
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = None
    if encoding is None:
        encoding, data = "BASE64", base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_record(
    *,
    request_type: str,
    request: bytes,
    response_type: str,
    response: bytes,
    at: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One captured invocation in SageMaker's format."""
    return {
        "captureData": {
            "endpointInput": _payload(request_type, request, "INPUT"),
            "endpointOutput": _payload(response_type, response, "OUTPUT"),
        },
        "eventMetadata": {
            "eventId": event_id or str(uuid.uuid4()),
            "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "eventVersion": "0",
    }


class SpoolS3:
    """The capture hand-off of a network-isolated container: ``put_object`` writes the
    file under ``folder/<bucket>/<key>`` (renamed into place whole), and the service, on
    the host, ships it to S3. SageMaker's capture happens outside the container too."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803
        path = os.path.join(self.folder, Bucket, Key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(f"{path}.part", "wb") as part:
            part.write(Body)
        os.replace(f"{path}.part", path)


class CaptureWriter:
    """Buffers sampled records and uploads them as JSON-lines files in the background."""

    def __init__(self, config: CaptureConfig, s3: Any) -> None:
        self.config = config
        self.s3 = s3
        self._buffer: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.files_written = 0
        self.records_dropped = 0
        self._thread = threading.Thread(target=self._flush_loop, daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        return random.uniform(0, 100) < self.config.sampling_percentage

    def capture(self, record: dict[str, Any]) -> None:
        """Queue one record (the request path's only cost: a dumps and an append)."""
        at = datetime.now(UTC)
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._buffer.append((at, line))
            full = len(self._buffer) >= self.config.flush_records
        if full:
            self._wake.set()

    def _key(self, first: datetime) -> str:
        name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        return "/".join(
            [
                self.config.prefix.strip("/"),
                self.config.endpoint,
                self.config.variant,
                f"{first:%Y/%m/%d/%H}",
                name,
            ]
        )

    def flush(self) -> None:
        """Upload what is buffered, one file per hour; failed files go back in the buffer."""
        with self._lock:
            pending, self._buffer = self._buffer, []
        by_hour: dict[str, list[tuple[datetime, str]]] = {}
        for at, line in pending:
            by_hour.setdefault(f"{at:%Y%m%d%H}", []).append((at, line))
        failed: list[tuple[datetime, str]] = []
        for records in by_hour.values():
            body = "\n".join(line for _, line in records) + "\n"
            try:
                self.s3.put_object(
                    Bucket=self.config.bucket, Key=self._key(records[0][0]), Body=body.encode()
                )
                self.files_written += 1
            except Exception:
                LOG.exception("data capture upload failed; %d records kept", len(records))
                failed += records
        if failed:
            with self._lock:
                self._buffer = failed + self._buffer
                overflow = len(self._buffer) - MAX_PENDING_RECORDS
                if overflow > 0:
                    del self._buffer[:overflow]
                    self.records_dropped += overflow

    def _flush_loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.config.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the uploader die: the next round retries
                LOG.exception("data capture flush failed")

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
        if self._buffer:
            LOG.error("data capture: %d records could not be uploaded", len(self._buffer))
