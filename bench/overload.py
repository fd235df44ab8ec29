"""Overload benchmark: the local endpoint offered 10x its measured capacity for 60 s.

A model is trained and registered through the synthesized pipeline (the local runtime on
moto) and served as ``make run`` serves it (the XGBoost image's serving stack, one
gevent worker, data capture to moto S3, every request sampled), with the runtime's
admission control in front of it in nginx (``local/serving/nginx_front.py``: at most
``MAX_IN_FLIGHT`` invocations reach the container, one more is answered 503 at once).
The generator is wrk (C, closed loop, keep-alive connections; ``bench/invoke.lua``
counts answers per status). On a machine with 2 CPUs or more the container runs on one
CPU and nginx, wrk and this process on another, in every phase, so the generator does
not take the model's CPU (the runtime's front runs on other machines too), and wrk runs
at a lower priority than nginx (``GENERATOR_NICENESS``).

1. capacity: ``CONNECTIONS`` connections for ``PHASE_SECONDS``; their requests/s is
   the capacity, their latency the "before" figure;
2. overload: ``LOAD_FACTOR`` x as many connections for ``--seconds`` (60); the rate they
   offer is measured, and its ratio to the capacity computed, not assumed;
3. recovery: the capacity load again, right after: its first second, then
   ``PHASE_SECONDS`` more, compared with the capacity phase.

Then nginx and the endpoint stop (the worker uploads what it holds) and the capture
records are counted against the 200s the container answered (nginx's log) and those the
generator received. Results: bench/results/overload.json. ``make loadtest`` runs it
(it installs wrk and nginx); it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

CONNECTIONS = 4
LOAD_FACTOR = 10
PHASE_SECONDS = 10.0
# Per instance, as service_front.DEFAULT_MAX_IN_FLIGHT per worker (one worker here).
MAX_IN_FLIGHT = 16
# wrk's own default is 2 s; a request unanswered after this counts as a socket timeout.
TIMEOUT_SECONDS = 5
# wrk shares its CPU with nginx: a lower priority lets the front keep up with what it
# admits (the runtime's front has machines of its own). Measured on this machine, 40
# connections, 8 s: at the same priority the container answered 165 200s/s (30% of
# capacity) while wrk offered 42,600 requests/s; at niceness 15, 511/s (93%) while it
# offered 28,400/s.
GENERATOR_NICENESS = 15
PREFIX = "overload-capture"
LUA = Path(__file__).resolve().parent / "invoke.lua"
RESULT_MARK = "WRK_RESULT "


def wrk(
    host: str, port: int, body_file: Path, *, connections: int, seconds: float
) -> dict[str, Any]:
    """wrk with ``connections`` keep-alive connections (one thread) for ``seconds``:
    what ``invoke.lua`` reports (counts per status, socket errors, latency)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise FileNotFoundError("wrk is not installed: `make loadtest` installs it (apt-get)")
    completed = subprocess.run(
        [
            "nice",
            "-n",
            str(GENERATOR_NICENESS),
            binary,
            "--threads",
            "1",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds:g}s",
            "--timeout",
            f"{TIMEOUT_SECONDS}s",
            "--script",
            str(LUA),
            f"http://{host}:{port}/invocations",
        ],
        env={**os.environ, "WRK_BODY_FILE": str(body_file)},
        capture_output=True,
        text=True,
        check=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")


def phase(report: dict[str, Any], connections: int) -> dict[str, Any]:
    """Counts by outcome, rates and latency of one wrk run."""
    statuses = {int(status): n for status, n in report["statuses"].items()}
    seconds = report["duration_s"]
    shed = statuses.get(503, 0) + statuses.get(429, 0)
    errors = report["socket_errors"]
    return {
        "connections": connections,
        "seconds": round(seconds, 2),
        "requests": report["requests"],
        "requests_per_second": round(report["requests"] / seconds, 1),
        "ok_200": statuses.get(200, 0),
        "ok_per_second": round(statuses.get(200, 0) / seconds, 1),
        "shed_503_429": shed,
        "server_error_5xx_other": sum(n for s, n in statuses.items() if s >= 500 and s != 503),
        "client_error_4xx_other": sum(
            n for s, n in statuses.items() if 400 <= s < 500 and s != 429
        ),
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        # Connections refused, reset or timed out, as wrk counts them: dropped requests.
        "socket_errors": errors,
        "dropped": sum(errors.values()),
        # wrk times every answer alike: in the overload phase this mixes 200s and 503s.
        "latency_all_ms": {k.removesuffix("_ms"): v for k, v in report["latency"].items()},
    }


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Processes started in the block run on ``cpu`` (inherited affinity); then this
    process goes back to what it had."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def wait_for_quiet(max_load: float, max_wait_seconds: float) -> list[float]:
    """Wait (a minute at a time, up to ``max_wait_seconds``) until the 1-minute load
    average is at most ``max_load``: other jobs on the machine skew every figure."""
    deadline = time.monotonic() + max_wait_seconds
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        print(f"load average {os.getloadavg()[0]:.2f} > {max_load}: waiting", flush=True)
        time.sleep(60)
    return [round(x, 2) for x in os.getloadavg()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's command line: the overload's length and the front's room."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-in-flight", type=int, default=MAX_IN_FLIGHT)
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--max-wait-seconds", type=float, default=600.0)
    return parser.parse_args(argv)


def run_phases(
    host: str, port: int, body_file: Path, overload_seconds: float
) -> dict[str, dict[str, Any]]:
    """Drive the front through warmup, before, the overload and after; each phase's figures."""
    phases: dict[str, dict[str, Any]] = {}
    for name, connections, seconds in (
        ("warmup", CONNECTIONS, 2.0),
        ("before", CONNECTIONS, PHASE_SECONDS),
        ("during", CONNECTIONS * LOAD_FACTOR, overload_seconds),
        # Split off so the after phase says whether the endpoint has recovered
        # and this one how it got there (what the overload left in flight).
        ("after_first_second", CONNECTIONS, 1.0),
        ("after", CONNECTIONS, PHASE_SECONDS),
    ):
        report = wrk(host, port, body_file, connections=connections, seconds=seconds)
        phases[name] = phase(report, connections)
        print(name, phases[name], flush=True)
    return phases


def summarize(
    phases: dict[str, dict[str, Any]],
    *,
    max_in_flight: int,
    cpus: dict[str, int | None],
    load_average: dict[str, list[float]],
    answered: dict[tuple[str, str, bool], int],
    captured: int,
) -> dict[str, Any]:
    """The result: capacity, the overload's phases, the recovery and what was captured."""
    before, during, after = phases["before"], phases["during"], phases["after"]
    capacity = before["requests_per_second"]
    container_200 = sum(n for (_, upstream, _), n in answered.items() if upstream == "200")
    client_200 = sum(p["ok_200"] for p in phases.values())
    return {
        "request": "one-row CSV, text/csv in and out",
        "generator": f"wrk, invoke.lua: closed loop, keep-alive, nice {GENERATOR_NICENESS}",
        "front": f"nginx limit_conn: {max_in_flight} invocations in flight, then 503",
        "workers": 1,
        "cpus": cpus,
        "load_average_1_5_15_min": load_average,
        "capacity_requests_per_second": capacity,
        "offered_requests_per_second": during["requests_per_second"],
        "offered_ratio_to_capacity": round(during["requests_per_second"] / capacity, 1),
        "overload_connections_ratio": LOAD_FACTOR,
        "phases": phases,
        "recovery": {
            "first_second": {
                k: phases["after_first_second"][k] for k in ("ok_200", "shed_503_429", "dropped")
            },
            "after_to_before_ok_per_second": round(after["ok_per_second"] / capacity, 2),
            "after_to_before_p50": round(
                after["latency_all_ms"]["p50"] / before["latency_all_ms"]["p50"], 2
            ),
            "after_to_before_p99": round(
                after["latency_all_ms"]["p99"] / before["latency_all_ms"]["p99"], 2
            ),
        },
        "capture": {
            "records": captured,
            # nginx's log: every answer the container gave, whether or not its client
            # was still there to receive it.
            "container_answered_200": container_200,
            "container_answered_other": {
                f"{upstream or '-'}": n
                for (_, upstream, _), n in answered.items()
                if upstream != "200"
            },
            "client_received_200_all_phases": client_200,
            # nginx's own view ($request_completion): answered 200 but not fully written.
            # It counts a response the kernel accepted as delivered, so it cannot see the
            # requests the generator abandoned; abandoned_by_generator does.
            "container_answered_200_not_delivered": sum(
                n for (_, upstream, done), n in answered.items() if upstream == "200" and not done
            ),
            # In flight when wrk stopped at the end of a phase: answered and captured,
            # but nobody was waiting any more.
            "abandoned_by_generator": container_200 - client_200,
            "missing": container_200 - captured,
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.model import write
    from bench.serving import registered_model  # the pipeline run both benchmarks serve
    from local.moto_platform import ARTIFACTS_BUCKET
    from local.serving.image.data_capture import CaptureConfig
    from local.serving.load_client import count_capture_records
    from local.serving.nginx_front import nginx_front
    from local.serving.serving import start_endpoint

    args = parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    container_cpu, generator_cpu = (cpus[1], cpus[0]) if len(cpus) >= 2 else (None, None)
    with tempfile.TemporaryDirectory() as scratch, registered_model(Path(scratch)) as served:
        platform, staged, body = served
        body_file = Path(scratch) / "body.csv"
        body_file.write_bytes(body)
        capture = CaptureConfig(
            bucket=ARTIFACTS_BUCKET,
            prefix=PREFIX,
            endpoint="overload",
            variant="AllTraffic",
            sampling_percentage=100,
        )
        # The container keeps its own admission at the same room: it never refuses
        # anything, since nginx hands it no more than that (its 503s would show in
        # nginx's log as the container's status).
        env = {**platform.env, **capture.to_env(), "FRONT_MAX_IN_FLIGHT": str(args.max_in_flight)}
        with ExitStack() as running:  # unwinds in reverse: nginx stops, then the endpoint
            with pinned(container_cpu):
                ep = running.enter_context(
                    start_endpoint(staged, env, workers=1, log=Path(scratch) / "endpoint.log")
                )
            running.enter_context(pinned(generator_cpu))
            front = running.enter_context(
                nginx_front(
                    ep.host, ep.port, max_in_flight=args.max_in_flight, work=Path(scratch) / "ng"
                )
            )
            load_average = {"before": wait_for_quiet(args.max_load, args.max_wait_seconds)}
            phases = run_phases(front.host, front.port, body_file, args.seconds)
            load_average["after"] = [round(x, 2) for x in os.getloadavg()]
        # Both have stopped: nginx flushed its log, the worker uploaded what it held.
        answered = front.answered()
        captured = count_capture_records(platform.s3, ARTIFACTS_BUCKET, PREFIX)
    result = summarize(
        phases,
        max_in_flight=args.max_in_flight,
        cpus={"container": container_cpu, "generator_and_front": generator_cpu},
        load_average=load_average,
        answered=answered,
        captured=captured,
    )
    write("overload", result)
    return result


if __name__ == "__main__":
    main()
