"""Overload benchmark: the local endpoint at 10x its measured capacity for 60 s.

A model is trained and registered through the synthesized pipeline (the local runtime on
moto) and served as ``make run`` serves it (the XGBoost image's serving stack, one
gevent worker, data capture to moto S3) behind the service front, whose admission
control answers 503 (the runtime's ServiceUnavailable) past ``FRONT_MAX_IN_FLIGHT``.

1. capacity: ``CONNECTIONS`` keep-alive clients sending as fast as they are answered;
   their requests/s is the capacity, their latency the "before" figure;
2. overload: ``LOAD_FACTOR`` x as many clients for ``--seconds`` (60), spread over
   ``PROCESSES`` generator processes;
3. recovery: the capacity load again, right after.

Then the endpoint is stopped (its worker uploads what it holds) and the capture records
are counted against the requests answered 200 in all three phases.
Results: bench/results/overload.json. ``make loadtest`` runs it; it is not in ``make test``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# Light on purpose: the generator processes (spawned) import this module; what serves
# the model is imported in main() only.
from local.serving.load_client import Request, closed_loop

CONNECTIONS = 4
LOAD_FACTOR = 10
PROCESSES = 4
PHASE_SECONDS = 10.0
PREFIX = "overload-capture"


def _generator(
    host: str,
    port: int,
    body: bytes,
    connections: int,
    seconds: float,
    start: Any,
    queue: Any,
) -> None:
    start.wait()  # every generator loads the endpoint over the same interval
    started = time.perf_counter()
    responses = closed_loop(
        host, port, Request(body, "text/csv"), connections=connections, seconds=seconds
    )
    queue.put(([(r.status, r.seconds) for r in responses], time.perf_counter() - started))


def load(
    host: str, port: int, body: bytes, *, connections: int, seconds: float, processes: int
) -> tuple[list[tuple[int, float]], float]:
    """``connections`` closed-loop clients over ``processes`` processes (each with its
    own interpreter, so the clients are not limited by one GIL), started together once
    all are ready; (status, seconds) per request, and the phase's length as the
    generators timed it."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    shares = [share for share in shares if share]
    start = context.Barrier(len(shares))
    workers = [
        context.Process(target=_generator, args=(host, port, body, share, seconds, start, queue))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    results: list[tuple[int, float]] = []
    elapsed = 0.0
    for _ in workers:
        answered, took = queue.get(timeout=seconds + 600)
        results += answered
        elapsed = max(elapsed, took)
    for worker in workers:
        worker.join()
    return results, elapsed


def phase(results: list[tuple[int, float]], seconds: float) -> dict[str, Any]:
    """Counts by outcome, rates, and latency of the answered (200) and shed requests."""
    statuses = np.array([s for s, _ in results])
    latency = np.array([t for _, t in results]) * 1000.0

    def percentiles(mask: np.ndarray) -> dict[str, float]:
        if not mask.any():
            return {}
        return {
            f"p{q}_ms": round(float(np.percentile(latency[mask], q)), 2) for q in (50, 90, 99)
        } | {"max_ms": round(float(latency[mask].max()), 2)}

    shed = (statuses == 503) | (statuses == 429)
    return {
        "seconds": round(seconds, 2),
        "requests": len(results),
        "requests_per_second": round(len(results) / seconds, 1),
        "ok_200": int((statuses == 200).sum()),
        "ok_per_second": round(float((statuses == 200).sum()) / seconds, 1),
        "shed_503_429": int(shed.sum()),
        "server_error_5xx_other": int(((statuses >= 500) & ~shed).sum()),
        "client_error_4xx_other": int(((statuses >= 400) & (statuses < 500) & ~shed).sum()),
        "dropped": int((statuses == 0).sum()),
        "latency_200": percentiles(statuses == 200),
        "latency_shed": percentiles(shed),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.model import write
    from bench.serving import registered_model  # the pipeline run both benchmarks serve
    from local.moto_platform import ARTIFACTS_BUCKET
    from local.serving.image.data_capture import CaptureConfig
    from local.serving.load_client import count_capture_records
    from local.serving.serving import start_endpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    # Unset: the front's own default (DEFAULT_MAX_IN_FLIGHT in service_front.py).
    parser.add_argument("--max-in-flight", type=int, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch, registered_model(Path(scratch)) as served:
        platform, staged, body = served
        capture = CaptureConfig(
            bucket=ARTIFACTS_BUCKET, prefix=PREFIX, endpoint="overload", variant="AllTraffic"
        )
        env = {**platform.env, **capture.to_env()}
        if args.max_in_flight is not None:
            env["FRONT_MAX_IN_FLIGHT"] = str(args.max_in_flight)
        log = Path(scratch) / "endpoint.log"
        phases: dict[str, dict[str, Any]] = {}
        answered = 0
        with start_endpoint(staged, env, workers=1, log=log) as ep:
            for name, connections, seconds in (
                ("warmup", CONNECTIONS, 2.0),
                ("before", CONNECTIONS, PHASE_SECONDS),
                ("during", CONNECTIONS * LOAD_FACTOR, args.seconds),
                ("after", CONNECTIONS, PHASE_SECONDS),
            ):
                results, wall = load(
                    ep.host,
                    ep.port,
                    body,
                    connections=connections,
                    seconds=seconds,
                    processes=min(PROCESSES, connections),
                )
                phases[name] = {"connections": connections, **phase(results, wall)}
                answered += phases[name]["ok_200"]
                print(name, phases[name], flush=True)
        captured = count_capture_records(platform.s3, ARTIFACTS_BUCKET, PREFIX)
    capacity = phases["before"]["requests_per_second"]
    result = {
        "request": "one-row CSV, text/csv in and out; closed-loop keep-alive clients",
        "workers": 1,
        "front_max_in_flight": args.max_in_flight or "service_front.DEFAULT_MAX_IN_FLIGHT",
        "capacity_requests_per_second": capacity,
        "overload_connections_ratio": LOAD_FACTOR,
        "overload_offered_ratio_to_capacity": round(
            phases["during"]["requests_per_second"] / capacity, 2
        ),
        "phases": {k: v for k, v in phases.items() if k != "warmup"},
        "capture_records": captured,
        "answered_200_all_phases": answered,
        "capture_records_missing": answered - captured,
    }
    write("overload", result)
    return result


if __name__ == "__main__":
    main()
