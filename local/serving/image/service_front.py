"""What SageMaker does in front of a real-time endpoint's container (a local stand-in).

The container never sees a request the service refused, and the service, not the
container, writes data capture. This WSGI middleware wraps the container's app
(sagemaker-containers' ``Worker``) in the same gunicorn worker and does both:

* a body over 6 MB is answered ``413`` before the container sees it (drained in chunks
  so a client still sending gets the answer; the connection is closed after);
* a body whose chunked encoding is broken is answered ``400``, not dropped;
* every successful ``/invocations`` is captured (sampled) in SageMaker's data-capture
  format (``data_capture.py``) once the container has answered;
* admission control: at most ``max_in_flight`` invocations per worker are held at once
  (being answered or waiting their turn); one more is answered ``503`` at once, before
  the container sees it, as the SageMaker runtime sheds what an instance cannot take
  (InvokeEndpoint's ``ServiceUnavailable``, HTTP 503) instead of queueing without bound.
  ``FRONT_MAX_IN_FLIGHT`` sets it (0: no limit); the value here is this stand-in's own,
  since SageMaker does not publish its per-instance limit.

Anything else passes through unchanged; ``/ping`` goes to the container.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import boto3
from data_capture import CaptureConfig, CaptureWriter, SpoolS3, capture_record

LOG = logging.getLogger("service_front")
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Past this, an oversized body is not even drained: the connection is simply closed.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
MAX_IN_FLIGHT_ENV = "FRONT_MAX_IN_FLIGHT"
# Per worker. A one-row request takes about 1 ms of a worker (bench/results/serving.json),
# so a full queue waits about this many milliseconds: latency stays bounded under overload.
DEFAULT_MAX_IN_FLIGHT = 16

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# This worker's capture writers, so the gunicorn exit hook can flush them.
_WRITERS: list[CaptureWriter] = []


def close_capture() -> None:
    """Upload what the worker's capture writers still hold (worker exit)."""
    while _WRITERS:
        _WRITERS.pop().close()


def _text(start_response: StartResponse, status: HTTPStatus, message: str) -> list[bytes]:
    body = message.encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    start_response(f"{status.value} {status.phrase}", headers)
    return [body]


def _unavailable(start_response: StartResponse, limit: int) -> list[bytes]:
    """The runtime's answer to an invocation it will not dispatch: 503, retry later. The
    connection stays open: the request was read whole, and a client under backoff reuses it."""
    body = f"ServiceUnavailable: {limit} invocations in flight on this instance; retry".encode()
    start_response(
        f"{HTTPStatus.SERVICE_UNAVAILABLE.value} {HTTPStatus.SERVICE_UNAVAILABLE.phrase}",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", "ServiceUnavailable"),
            ("Retry-After", "1"),
        ],
    )
    return [body]


def _drain(stream: Any, length: int, chunk: int = 64 * 1024) -> None:
    remaining = min(length, MAX_DRAIN_BYTES)
    while remaining > 0:
        data = stream.read(min(chunk, remaining))
        if not data:
            return
        remaining -= len(data)


class ServiceFront:
    """The service's side of an invocation, around the container's WSGI app."""

    def __init__(
        self,
        app: WsgiApp,
        capture: CaptureWriter | None = None,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        if max_in_flight < 0:
            raise ValueError(f"{MAX_IN_FLIGHT_ENV} must be 0 (no limit) or more: {max_in_flight}")
        self.app = app
        self.capture = capture
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.shed = 0
        self._admission = threading.Lock()

    @classmethod
    def from_env(cls, app: WsgiApp, env: Mapping[str, str]) -> ServiceFront:
        """Capture configured by ``CAPTURE_*`` settings (none when unset), written to S3 or,
        with ``CAPTURE_SPOOL``, handed to the host; admission by ``FRONT_MAX_IN_FLIGHT``."""
        config = CaptureConfig.from_env(dict(env))
        writer = None
        if config is not None:
            spool = env.get("CAPTURE_SPOOL")
            writer = CaptureWriter(config, SpoolS3(spool) if spool else boto3.client("s3"))
            _WRITERS.append(writer)
        raw = env.get(MAX_IN_FLIGHT_ENV, str(DEFAULT_MAX_IN_FLIGHT))
        try:
            limit = int(raw)
        except ValueError:
            raise ValueError(f"{MAX_IN_FLIGHT_ENV} is not a whole number: {raw!r}") from None
        return cls(app, writer, max_in_flight=limit)

    def _admit(self) -> bool:
        with self._admission:
            if self.max_in_flight and self.in_flight >= self.max_in_flight:
                self.shed += 1
                return False
            self.in_flight += 1
            return True

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/invocations" or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _text(start_response, HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
        stream = environ["wsgi.input"]
        try:
            if length > MAX_PAYLOAD_BYTES:
                _drain(stream, length)
                return _text(
                    start_response,
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"payload is {length} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (6 MB)",
                )
            # Without Content-Length (chunked), read at most one byte past the limit.
            body = stream.read(length if length else MAX_PAYLOAD_BYTES + 1)
        except Exception as exc:  # the server's parser: a malformed chunked body
            return _text(start_response, HTTPStatus.BAD_REQUEST, f"malformed request body: {exc}")
        if len(body) > MAX_PAYLOAD_BYTES:
            return _text(
                start_response,
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"payload exceeds the limit of {MAX_PAYLOAD_BYTES} bytes (6 MB)",
            )
        # The container reads exactly this body.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        if not self._admit():
            return _unavailable(start_response, self.max_in_flight)
        try:
            # Under gunicorn's gevent worker ``time.sleep`` is gevent's: yielding here lets
            # every request already read register (or be shed) before this one is answered,
            # so the count is the worker's real queue, not only the one request running.
            time.sleep(0)
            return self._answer(environ, start_response, body)
        finally:
            with self._admission:
                self.in_flight -= 1

    def _answer(
        self, environ: dict[str, Any], start_response: StartResponse, body: bytes
    ) -> list[bytes]:
        if self.capture is None:
            chunks = self.app(environ, start_response)
            try:
                return [b"".join(chunks)]  # answered inside the admission window
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        return self._captured(environ, start_response, body)

    def _captured(
        self, environ: dict[str, Any], start_response: StartResponse, body: bytes
    ) -> list[bytes]:
        answer: dict[str, Any] = {}

        def remember(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, *exc_info)

        chunks = self.app(environ, remember)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        capture = self.capture
        if capture is not None and answer.get("status", "").startswith("200") and capture.sampled():
            headers = {k.lower(): v for k, v in answer["headers"]}
            capture.capture(
                capture_record(
                    request_type=environ.get("CONTENT_TYPE", ""),
                    request=body,
                    response_type=headers.get("content-type", ""),
                    response=payload,
                    at=datetime.now(UTC),
                )
            )
        return [payload]
