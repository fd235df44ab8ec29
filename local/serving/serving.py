"""Start and stop the local endpoint: the XGBoost image's serving stack in a container.

The image's ``serve`` (``local/serving/image/xgboost_image.py``) runs in a container of
the image (``local/image/container.py``): sagemaker-containers installs and imports the
staged model's code, then gunicorn (gevent workers, as in the image) serves it on a
loopback socket this process opens and hands over, so a network-isolated container
(no network namespace of its own but loopback) still answers. The service's part stays
outside: the front's settings (6 MB limit, admission, capture) come as a file, not as
container environment, and captured records are shipped to S3 from here.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3

from local.image.container import COMMANDS_DIR, SERVICE_DIR, Container
from local.serving.hosted_model import StagedModel

# Settings of the service front (local/serving/image/service_front.py), not of the container.
FRONT_SETTINGS = ("CAPTURE_", "FRONT_")
SHIP_EVERY_SECONDS = 0.2


@dataclass(frozen=True)
class RunningEndpoint:
    host: str
    port: int
    workers: int
    log: Path
    pid: int = 0
    # What the container's Python said of itself, and the image record it runs under.
    runtime: dict[str, str] = field(default_factory=dict)

    def ping(self) -> int:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", "/ping")
            return connection.getresponse().status
        finally:
            connection.close()

    def wait_until_ready(self, process: subprocess.Popen[bytes], seconds: float) -> None:
        """Until the container answers /ping with 200 (gunicorn's workers accept only
        once their app, the model included, is loaded), or fail when it exits."""
        deadline = time.monotonic() + seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the endpoint exited ({process.returncode}):\n{self.log.read_text()}"
                )
            try:
                if self.ping() == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the endpoint did not answer /ping in {seconds}s")
            time.sleep(0.1)


class CaptureShipper:
    """Ships what the container's front spooled (``<spool>/<bucket>/<key>``) to S3."""

    def __init__(self, spool: Path, s3: Any) -> None:
        self.spool = spool
        self.s3 = s3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def ship(self) -> int:
        shipped = 0
        for path in sorted(self.spool.rglob("*")):
            if not path.is_file() or path.name.endswith(".part"):
                continue
            bucket, key = path.relative_to(self.spool).as_posix().split("/", 1)
            self.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            path.unlink()
            shipped += 1
        return shipped

    def _loop(self) -> None:
        while not self._stop.wait(SHIP_EVERY_SECONDS):
            self.ship()

    def __enter__(self) -> CaptureShipper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.ship()  # what the workers flushed as they exited


def _s3(platform: Mapping[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=platform.get("AWS_ENDPOINT_URL"),
        region_name=platform.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=platform.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=platform.get("AWS_SECRET_ACCESS_KEY"),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listener() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    return listener


@contextmanager
def start_endpoint(
    staged: StagedModel,
    env: Mapping[str, str],
    *,
    workers: int,
    log: Path,
    ready_seconds: float = 600.0,
    isolated: bool = True,
    service_front: bool = True,
) -> Iterator[RunningEndpoint]:
    """Serve ``staged`` with ``workers`` processes until the block ends (then stop
    gracefully). ``env`` is the platform's: the AWS endpoint and credentials (the
    container gets them only when not ``isolated``) and the front's ``CAPTURE_*`` /
    ``FRONT_*`` settings. ``isolated``: the model's ``EnableNetworkIsolation``.
    ``service_front=False`` serves the container's app alone, without the stand-in for
    the SageMaker service in front of it (the endpoint bench measures the image's stack)."""
    container = Container(staged.opt_ml.parent.parent, isolated)
    front = {k: v for k, v in env.items() if k.startswith(FRONT_SETTINGS)}
    if front and not service_front:
        raise ValueError(f"front settings {sorted(front)} given without the service front")
    spool = container.service_dir / "capture"
    if "CAPTURE_BUCKET" in front:
        spool.mkdir(parents=True, exist_ok=True)
        front["CAPTURE_SPOOL"] = f"{SERVICE_DIR}/capture"
    container.service_dir.mkdir(parents=True, exist_ok=True)
    (container.service_dir / "front.json").write_text(json.dumps(front))
    listener = _listener()
    port = int(listener.getsockname()[1])
    fd = listener.fileno()
    front_file = ["--front", f"{SERVICE_DIR}/front.json"] if service_front else []
    command = container.command(
        [
            "python3",
            f"{COMMANDS_DIR}/xgboost_image.py",
            "serve",
            "--fd",
            str(fd),
            "--workers",
            str(workers),
            *front_file,
        ]
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env=container.environment(staged.environment, platform=env),
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
    listener.close()  # the container holds it now
    # The container's first process becomes gunicorn's master (each step execs the next).
    endpoint = RunningEndpoint("127.0.0.1", port, workers, log, pid=process.pid)
    try:
        endpoint.wait_until_ready(process, ready_seconds)
        endpoint = replace(endpoint, runtime=container.runtime())
        with CaptureShipper(spool, _s3(env)) if front.get("CAPTURE_BUCKET") else nullcontext():
            yield endpoint
            _stop(process)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
