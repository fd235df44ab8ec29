"""Serving benchmark: the local endpoint under load, against the hooks in-process.

A model is trained and registered through the synthesized pipeline (the local runtime
on moto), then served the way ``make run`` serves it: the XGBoost image's serving stack
(sagemaker-containers' worker, gunicorn with gevent workers) running the registered
``code/inference.py``, data capture to moto S3. A load generator
in a separate process keeps ``CONNECTIONS`` connections open and sends one-row CSV
requests for ``SECONDS`` seconds, for 1 and 2 workers, with capture off and on.

The baseline is ``transform_fn`` called in-process on the same request body (no HTTP,
no server): HTTP requests/s per worker divided by that rate says what the server,
the protocol and the client cost on this machine.

Results: bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.model import write
from config.schema import load_schema
from local.lake.synthetic import generate_clean
from local.moto_platform import ARTIFACTS_BUCKET, LocalPlatform
from local.pipeline.training_run import approve_latest, execute, installed_pipeline
from local.serving.hosted_model import StagedModel, load_hosted_model, stage_model_package
from local.serving.image.data_capture import CaptureConfig
from local.serving.load_client import Request, Response, send_all, summarize
from local.serving.serving import start_endpoint
from local.synth_check import synthesize
from training.preprocess import raw_feature_frame

CONNECTIONS = 4
SECONDS = 8.0
# Requests per worker the autoscaling target leaves as headroom (see docs/serving.md).
HEADROOM = 0.5


def _client(host: str, port: int, body: bytes, seconds: float, results: Any) -> None:
    """One connection sending the same request until time is up (runs in a thread)."""
    deadline = time.monotonic() + seconds
    request = Request(body, "text/csv")

    def until_deadline() -> Iterator[Request]:
        while time.monotonic() < deadline:
            yield request

    # One connection for the whole run, as a client pool would keep it.
    results.extend(send_all(host, port, until_deadline()))


def _load(host: str, port: int, body: bytes, seconds: float, queue: Any) -> None:
    """The load generator process: CONNECTIONS threads, each with its own connection."""
    results: list[Response] = []
    threads = [
        threading.Thread(target=_client, args=(host, port, body, seconds, results))
        for _ in range(CONNECTIONS)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    queue.put({**summarize(results), "seconds": round(elapsed, 2)})


def run_load(host: str, port: int, body: bytes, seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = _in_process(_load, (host, port, body, seconds), seconds + 120)
    result["requests_per_second"] = round(result["requests"] / result["seconds"], 1)
    result["errors"] = sum(
        result[k] for k in ("requests_client_error", "requests_server_error", "requests_shed")
    )
    return result


def _hooks(staged: StagedModel, body: bytes, seconds: float, queue: Any) -> None:
    hosted = load_hosted_model(staged)
    text = body.decode()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hosted.invoke(text, "text/csv", "text/csv")
        calls += 1
    queue.put(calls / (time.perf_counter() - started))


def hooks_per_second(staged: StagedModel, body: bytes, seconds: float = 3.0) -> float:
    """transform_fn in-process on the same body: the ceiling one worker could reach.

    Measured in a process of its own, which imports the registered bundle as the
    container does (its inference.py, features/ and config/ shadow this checkout's).
    """
    return float(_in_process(_hooks, (staged, body, seconds), timeout=seconds + 120))


def _in_process(target: Any, args: tuple[Any, ...], timeout: float) -> Any:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get(timeout=timeout)
    process.join()
    return result


@contextmanager
def registered_model(
    work: Path, rows: int = 20_000
) -> Iterator[tuple[LocalPlatform, StagedModel, bytes]]:
    """A model trained and registered by the synthesized pipeline (moto), staged as the
    endpoint stages it, and a one-row CSV request body."""
    schema = load_schema("churn")
    synthesize(work / "cdk.out")
    curated = work / "curated"
    curated.mkdir()
    generate_clean(schema, rows, seed=5).to_parquet(curated / "part-0.parquet")
    row = raw_feature_frame(schema, generate_clean(schema, 1, seed=9))
    body = row.to_csv(header=False, index=False).strip().encode()
    with installed_pipeline(work / "cdk.out", curated, work / "pipeline") as (platform, pipeline):
        approve_latest(platform, execute(platform, pipeline))
        arn = platform.model_packages()[-1]["arn"]
        staged = stage_model_package(platform.sagemaker, platform.s3, arn, work / "model")
        yield platform, staged, body


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        runs = []
        with registered_model(work) as (platform, staged, body):
            baseline = hooks_per_second(staged, body)
            for workers in (1, 2):
                for capture in (False, True):
                    env = dict(platform.env)
                    if capture:
                        env.update(
                            CaptureConfig(
                                bucket=ARTIFACTS_BUCKET,
                                prefix="bench-capture",
                                endpoint="bench",
                                variant="AllTraffic",
                            ).to_env()
                        )
                    log = work / "endpoint.log"
                    with start_endpoint(staged, env, workers=workers, log=log) as ep:
                        run_load(ep.host, ep.port, body, 1.0)  # warm up every worker
                        result = run_load(ep.host, ep.port, body, args.seconds)
                    per_worker = result["requests_per_second"] / workers
                    runs.append(
                        {
                            "workers": workers,
                            "capture": capture,
                            **result,
                            "requests_per_second_per_worker": round(per_worker, 1),
                            "ratio_to_in_process_hooks": round(per_worker / baseline, 3),
                        }
                    )
                    print(runs[-1], flush=True)
    instance = next(r for r in runs if r["workers"] == 2 and r["capture"])
    target = int(instance["requests_per_second"] * 60 * HEADROOM)
    return_value = {
        "request": "one-row CSV, text/csv in and out",
        "connections": CONNECTIONS,
        "load_generator": "separate process, keep-alive http.client connections",
        "baseline": "inference.py's transform_fn called in-process on the same body",
        "baseline_requests_per_second": round(baseline, 1),
        "runs": runs,
        "autoscaling": {
            "instance_requests_per_second": instance["requests_per_second"],
            "headroom": HEADROOM,
            "invocations_per_instance_per_minute_target": target,
        },
    }
    write("serving", return_value)
    return return_value


if __name__ == "__main__":
    main()
