"""The retrain trigger Lambda (and the monitor launcher), invoked in this process as the
Lambda runtime would (LOCAL stand-in for EventBridge's and Scheduler's delivery to the
function, which moto does not do).

``lambda`` is a Python keyword, so the handler is loaded by path with its folder on
``sys.path``, as the runtime loads it; the context carries what Powertools reads.
``deliver`` also does what Lambda and CloudWatch Logs do around an invocation: the
function's stdout goes to its log, and Lambda's invocation metrics and the metrics the
function logged in the embedded metric format go to CloudWatch (LOCAL stand-in).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from local.service_metrics import LAMBDA, RETRAIN_FUNCTION, emf_data, lambda_data, put

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda" / "retrain_trigger"
LAUNCHER_DIR = LAMBDA_DIR.parent / "monitor_launcher"
LABEL = "[local stand-in: EventBridge -> Lambda delivery]"


def load_handler(directory: Path = LAMBDA_DIR) -> ModuleType:
    """handler.py by path, its folder on sys.path: what the Lambda runtime does. A fresh
    module each call, so its cached clients and settings come from the current env."""
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    path = directory / "handler.py"
    spec = importlib.util.spec_from_file_location(f"{directory.name}_handler", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would (dataclasses look it up)
    spec.loader.exec_module(module)
    return module


def lambda_context(
    *, region: str, account: str, function_name: str = RETRAIN_FUNCTION, request_id: str = "req-1"
) -> SimpleNamespace:
    """The fields of a Lambda context object that Powertools reads."""
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{function_name}",
        aws_request_id=request_id,
        get_remaining_time_in_millis=lambda: 30_000,
    )


def deliver(
    handler: ModuleType, event: dict[str, Any], context: Any, *, cloudwatch: Any, log: Path
) -> dict[str, Any]:
    """Invoke ``handler.handler(event, context)``; append its stdout to ``log``; put
    Lambda's Invocations/Errors/Duration and the function's EMF metrics in CloudWatch."""
    out = io.StringIO()
    started_at, started = datetime.now(UTC), time.perf_counter()
    error = True
    try:
        with contextlib.redirect_stdout(out):
            result: dict[str, Any] = handler.handler(event, context)
        error = False
        return result
    finally:
        milliseconds = (time.perf_counter() - started) * 1000.0
        with log.open("a") as written:
            written.write(out.getvalue())
        put(
            cloudwatch,
            LAMBDA,
            lambda_data(
                context.function_name, milliseconds=milliseconds, error=error, at=started_at
            ),
        )
        for namespace, data in emf_data(out.getvalue().splitlines()).items():
            put(cloudwatch, namespace, data)
