"""The capture writer: SageMaker's record format, hourly files, nothing lost on errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from local.serving.image.data_capture import CaptureConfig, CaptureWriter, capture_record


class _FlakyS3:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803
        if self.failures:
            self.failures -= 1
            raise ConnectionError("S3 unreachable")
        self.objects[Key] = Body


def _writer(s3: _FlakyS3) -> CaptureWriter:
    config = CaptureConfig(bucket="b", prefix="cap", endpoint="ep", variant="v", flush_seconds=3600)
    return CaptureWriter(config, s3)


def test_records_survive_a_failed_upload() -> None:
    s3 = _FlakyS3(failures=1)
    writer = _writer(s3)
    for i in range(5):
        writer.capture({"n": i})
    writer.flush()  # fails: the records stay buffered
    assert s3.objects == {}
    writer.close()  # succeeds
    [(key, body)] = s3.objects.items()
    assert key.startswith("cap/ep/v/") and key.endswith(".jsonl")
    assert [json.loads(line)["n"] for line in body.decode().splitlines()] == list(range(5))
    assert writer.records_dropped == 0


def test_record_format_and_encodings() -> None:
    at = datetime(2026, 11, 23, 21, 5, 7, tzinfo=UTC)
    record = capture_record(
        request_type="text/csv",
        request=b"1,2",
        response_type="application/octet-stream",
        response=b"\x00\x01",
        at=at,
        event_id="e",
    )
    assert record == {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "1,2",
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "application/octet-stream",
                "mode": "OUTPUT",
                "data": "AAE=",
                "encoding": "BASE64",
            },
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-23T21:05:07Z"},
        "eventVersion": "0",
    }
