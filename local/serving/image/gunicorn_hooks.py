"""Gunicorn hooks for the local endpoint (``--config``): flush captures on worker exit."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    """Upload the worker's last captured records before it goes away."""
    import service_front

    service_front.close_capture()
