"""An HTTP client for the local endpoint that keeps its connection open, and the
latency summary ``make run`` and the benchmark report."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Request:
    body: bytes
    content_type: str
    accept: str = "text/csv"


@dataclass(frozen=True)
class Response:
    """An answer; status 0 when the server dropped the connection without one."""

    status: int
    seconds: float
    body: bytes
    content_type: str = ""
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def send_all(host: str, port: int, requests: Iterable[Request]) -> list[Response]:
    """Send ``requests`` one after another over one keep-alive connection (a new one
    whenever the server closes it, or drops it: that answer is recorded as status 0)."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    responses = []
    try:
        for request in requests:
            sent_at = datetime.now(UTC)
            started = time.perf_counter()
            try:
                connection.request(
                    "POST",
                    "/invocations",
                    body=request.body,
                    headers={"Content-Type": request.content_type, "Accept": request.accept},
                )
                reply = connection.getresponse()
                body = reply.read()
            except (http.client.HTTPException, OSError):
                responses.append(Response(0, time.perf_counter() - started, b"", sent_at=sent_at))
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                continue
            responses.append(
                Response(
                    reply.status,
                    time.perf_counter() - started,
                    body,
                    reply.getheader("Content-Type", ""),
                    sent_at,
                )
            )
            if reply.will_close:
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
    finally:
        connection.close()
    return responses


def closed_loop(
    host: str, port: int, request: Request, *, connections: int, seconds: float
) -> list[Response]:
    """``connections`` clients, each on its own keep-alive connection (a thread), sending
    ``request`` again as soon as it is answered, for ``seconds``."""
    deadline = time.monotonic() + seconds
    results: list[Response] = []

    def until_deadline() -> Iterator[Request]:
        while time.monotonic() < deadline:
            yield request

    def client() -> None:
        results.extend(send_all(host, port, until_deadline()))  # list.extend holds the GIL

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def count_capture_records(s3: Any, bucket: str, prefix: str) -> int:
    """Data-capture records (JSON lines) under ``s3://bucket/prefix``."""
    records = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            records += sum(1 for line in body.splitlines() if json.loads(line)["captureData"])
    return records


def summarize(responses: list[Response]) -> dict[str, float | int]:
    """Status counts and latency percentiles (milliseconds, all responses)."""
    latencies = np.array([r.seconds for r in responses]) * 1000.0
    return {
        "requests": len(responses),
        "requests_ok": sum(200 <= r.status < 300 for r in responses),
        "requests_client_error": sum(400 <= r.status < 500 and r.status != 429 for r in responses),
        # Shed by admission control (the runtime's ServiceUnavailable 503 / throttling 429).
        "requests_shed": sum(r.status in (429, 503) for r in responses),
        "requests_server_error": sum(r.status >= 500 and r.status != 503 for r in responses),
        "requests_dropped": sum(r.status == 0 for r in responses),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2) if len(responses) else 0.0,
        "p99_ms": round(float(np.percentile(latencies, 99)), 2) if len(responses) else 0.0,
    }
