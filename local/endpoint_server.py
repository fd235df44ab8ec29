"""The local endpoint: the serving container's HTTP contract around ``inference.py``.

    GET  /ping          200 once the worker has loaded the model
    POST /invocations   Content-Type and Accept as the hooks accept them; 6 MB limit

Each gunicorn worker builds the app once (``create_app_from_env()``), which runs
``model_fn`` once, as the XGBoost container's workers do. The inference toolkit's
client errors become their status (400, 413, 415) with their message; any other
exception is logged with its traceback and answered with a bare 500. Successful
invocations are captured (sampled) in SageMaker's data-capture format.

``local.serving.start_endpoint`` runs it under gunicorn with ``local/gunicorn_conf.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
from sagemaker_inference.errors import BaseInferenceToolkitError

from local.data_capture import CaptureConfig, CaptureWriter, capture_record
from local.hosted_model import HostedModel, load_hosted_model

LOG = logging.getLogger("endpoint")
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Past this, an oversized body is not even drained: the connection is simply closed.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
# The container hands the CSV and JSON hooks text; any other type arrives as bytes.
TEXT_TYPES = ("text/csv", "application/json")
RESPONSE_TYPES = ("text/csv", "application/json", "application/jsonlines")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

# The running worker's capture writer, so the gunicorn exit hook can flush it.
CAPTURE: dict[str, CaptureWriter] = {}


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def _respond(
    start_response: StartResponse,
    status: HTTPStatus,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])],
    )
    return [body]


def _text(start_response: StartResponse, status: HTTPStatus, message: str) -> list[bytes]:
    return _respond(start_response, status, message.encode(), "text/plain; charset=utf-8")


def _drain(stream: Any, length: int, chunk: int = 64 * 1024) -> None:
    remaining = min(length, MAX_DRAIN_BYTES)
    while remaining > 0:
        data = stream.read(min(chunk, remaining))
        if not data:
            return
        remaining -= len(data)


class EndpointApp:
    """A WSGI application serving one hosted model."""

    def __init__(self, hosted: HostedModel, capture: CaptureWriter | None = None) -> None:
        self.hosted = hosted
        self.capture = capture

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/ping":
            if method != "GET":
                return _text(start_response, HTTPStatus.METHOD_NOT_ALLOWED, "use GET /ping")
            # Which worker answered: lets the launcher wait until every worker is up.
            pid = [("X-Worker-Pid", str(os.getpid()))]
            return _respond(start_response, HTTPStatus.OK, b"", "text/plain", pid)
        if path != "/invocations":
            return _text(start_response, HTTPStatus.NOT_FOUND, f"no route {path!r}")
        if method != "POST":
            return _text(start_response, HTTPStatus.METHOD_NOT_ALLOWED, "use POST /invocations")
        return self.invoke(environ, start_response)

    def invoke(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _text(start_response, HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
        if length > MAX_PAYLOAD_BYTES:
            # Refused without buffering: the body is drained in chunks so that the client
            # (still sending) gets the 413 rather than a broken connection; the
            # connection is closed after, in case the drain stopped short.
            _drain(environ["wsgi.input"], length)
            message = f"payload is {length} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (6 MB)"
            return _respond(
                start_response,
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                message.encode(),
                "text/plain; charset=utf-8",
                [("Connection", "close")],
            )
        if length:
            raw = environ["wsgi.input"].read(length)
        else:
            # No Content-Length (chunked): read at most one byte past the limit.
            raw = environ["wsgi.input"].read(MAX_PAYLOAD_BYTES + 1)
            if len(raw) > MAX_PAYLOAD_BYTES:
                return _text(
                    start_response,
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"payload exceeds the limit of {MAX_PAYLOAD_BYTES} bytes (6 MB)",
                )
        content_type = environ.get("CONTENT_TYPE", "")
        accept = environ.get("HTTP_ACCEPT", "")
        try:
            body: bytes | str = raw
            if _media_type(content_type) in TEXT_TYPES:
                body = raw.decode("utf-8")
            result = self.hosted.invoke(body, content_type, accept)
        except UnicodeDecodeError as exc:
            return _text(start_response, HTTPStatus.BAD_REQUEST, f"body is not UTF-8 text: {exc}")
        except BaseInferenceToolkitError as exc:
            return _text(start_response, HTTPStatus(exc.status_code), str(exc.message))
        except Exception:
            LOG.exception("invocation failed")
            return _text(start_response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal server error")
        response_type = _media_type(accept)
        if response_type not in RESPONSE_TYPES:
            response_type = "text/csv"
        payload = result.encode() if isinstance(result, str) else bytes(result)
        if self.capture is not None and self.capture.sampled():
            self.capture.capture(
                capture_record(
                    request_type=content_type,
                    request=raw,
                    response_type=response_type,
                    response=payload,
                    at=datetime.now(UTC),
                )
            )
        return _respond(start_response, HTTPStatus.OK, payload, response_type)


def create_app_from_env() -> EndpointApp:
    """Gunicorn's app factory: load the model named by the environment, once per worker."""
    env = dict(os.environ)
    hosted = load_hosted_model(
        Path(env["SM_MODEL_DIR"]), Path(env["SAGEMAKER_CODE_DIR"]), env["SAGEMAKER_PROGRAM"]
    )
    config = CaptureConfig.from_env(env)
    capture = None
    if config is not None:
        capture = CaptureWriter(config, boto3.client("s3"))
        CAPTURE["writer"] = capture
    return EndpointApp(hosted, capture)
