"""Gunicorn settings for the local endpoint (``--config python:local.gunicorn_conf``)."""

from __future__ import annotations

from typing import Any

# Threaded workers keep client connections open between requests (sync workers close
# every connection); the model itself is loaded once per worker process.
worker_class = "gthread"
threads = 4
keepalive = 30
# Model loading can take a few seconds on a busy machine.
timeout = 60
graceful_timeout = 15
accesslog = None
loglevel = "warning"


def worker_exit(server: Any, worker: Any) -> None:
    """Upload the worker's last captured records before it goes away."""
    from local.endpoint_server import CAPTURE

    writer = CAPTURE.get("writer")
    if writer is not None:
        writer.close()
