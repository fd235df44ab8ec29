"""Start and stop the local endpoint: the XGBoost image's serving stack on loopback.

``local/serving/image/xgboost_image.py serve`` runs under the image's Python stack: sagemaker-
containers installs and imports the staged model's code, then gunicorn (gevent
workers, as in the image) serves it behind the service front (6 MB limit, capture).
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from local.serving.hosted_model import StagedModel
from local.serving.image_process import container_env, image_command


@dataclass(frozen=True)
class RunningEndpoint:
    host: str
    port: int
    workers: int
    log: Path

    def ping(self) -> int:
        return self._ping()[0]

    def _ping(self) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", "/ping")
            response = connection.getresponse()
            return response.status, response.getheader("X-Worker-Pid", "")
        finally:
            connection.close()

    def wait_until_ready(self, process: subprocess.Popen[bytes], seconds: float) -> None:
        """Until every worker has loaded the model and answered /ping (or fail)."""
        deadline = time.monotonic() + seconds
        ready: set[str] = set()
        while len(ready) < self.workers:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the endpoint exited ({process.returncode}):\n{self.log.read_text()}"
                )
            try:
                status, pid = self._ping()
                if status == 200:
                    ready.add(pid)
            except OSError:
                time.sleep(0.1)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(ready)} of {self.workers} workers answered /ping in {seconds}s"
                )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def start_endpoint(
    staged: StagedModel,
    env: Mapping[str, str],
    *,
    workers: int,
    log: Path,
    ready_seconds: float = 120.0,
) -> Iterator[RunningEndpoint]:
    """Serve ``staged`` with ``workers`` processes until the block ends (then stop
    gracefully). ``env`` adds to the container's own environment (AWS endpoint, capture)."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    container = container_env(
        env,
        staged.opt_ml,
        {
            **staged.environment,
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            "GUNICORN_LOG_LEVEL": "warning",
        },
    )
    with log.open("w") as output:
        process = subprocess.Popen(
            image_command("serve", "--port", str(port)),
            env=container,
            cwd=staged.opt_ml,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    endpoint = RunningEndpoint("127.0.0.1", port, workers, log)
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the endpoint exited ({process.returncode}):\n{log.read_text()}"
                )
            try:
                if endpoint.ping() == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the endpoint did not answer /ping in {ready_seconds}s")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
