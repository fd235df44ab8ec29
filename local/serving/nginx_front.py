"""The runtime's admission control in C: nginx in front of the local endpoint.

SageMaker sheds what an instance cannot take before the container sees it (InvokeEndpoint's
``ServiceUnavailable``, HTTP 503), in its own fleet, not in the model's process. The
Python stand-in (``image/service_front.py``) does it inside the gevent worker that also
scores the model, so every refusal costs that worker an HTTP parse. Measured on this
2-core machine with wrk, 40 connections for 8 s (capture off; 4 connections got 595 200s/s):
the worker answered 2,580 requests/s, but 20,506 of its 20,666 answers were 503s, only
160 were 200s, and 53 requests timed out (2 s). nginx (``limit_conn``:
requests being processed, so keep-alive connections waiting for their next request do
not count) refuses in C, in its own process, and hands the container at most
``max_in_flight`` invocations at once over kept-alive upstream connections.

Only ``make loadtest`` puts it in front (Debian's nginx, installed by the Makefile);
``make run`` and the tests keep the Python front's own admission. Everything else of the
runtime's front (6 MB limit, broken chunked bodies, data capture) stays in
``service_front.py``, behind this.

Each answer nginx got from the container is logged (its status, the container's status,
whether the client received it), so a benchmark can count what the container answered
independently of the client: a closed-loop client stopping at the end of a phase
abandons the requests it still has in flight, which the container answers anyway.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from local.serving.serving import free_port

# nginx is in /usr/sbin, which is not on every user's PATH.
NGINX_PATHS = ("/usr/sbin", "/usr/local/sbin")
SHED_BODY = "ServiceUnavailable: {limit} invocations in flight on this instance; retry\n"

CONFIG = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    # One zone for the whole instance: the key is the same for every request.
    limit_conn_zone $server_port zone=instance:1m;
    log_format answered '$status $upstream_status $request_completion';
    upstream container {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=8192;
        keepalive_requests 100000000;
        # The container's front answers 413 past 6 MB itself (draining the body first).
        client_max_body_size 0;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_read_timeout {timeout}s;
        location = /invocations {{
            limit_conn instance {limit};
            limit_conn_status 503;
            limit_conn_log_level info;
            error_page 503 @shed;
            # An admitted request is answered (and captured) even if its client leaves.
            proxy_ignore_client_abort on;
            proxy_pass http://container;
            access_log {work}/answered.log answered buffer=256k flush=1s;
        }}
        location @shed {{
            access_log off;
            default_type text/plain;
            add_header x-amzn-ErrorType ServiceUnavailable always;
            add_header Retry-After 1 always;
            return 503 "{shed_body}";
        }}
        location / {{
            proxy_pass http://container;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """nginx's path, or a clear error saying how to get it."""
    found = shutil.which("nginx") or shutil.which("nginx", path=":".join(NGINX_PATHS))
    if found is None:
        raise FileNotFoundError(
            "nginx is not installed: `make loadtest` installs it (apt-get install nginx)"
        )
    return found


@dataclass(frozen=True)
class NginxFront:
    host: str
    port: int
    answered_log: Path

    def answered(self) -> Counter[tuple[str, str, bool]]:
        """(status sent, container's status, client received it) -> count, for every
        request passed to the container (call once nginx has stopped: the log is
        buffered)."""
        counts: Counter[tuple[str, str, bool]] = Counter()
        if not self.answered_log.exists():
            return counts
        with self.answered_log.open() as log:
            for line in log:
                status, upstream, completion = [*line.split(), ""][:3]
                counts[(status, upstream, completion == "OK")] += 1
        return counts


def render_config(work: Path, port: int, upstream: str, limit: int, timeout: int) -> str:
    """nginx.conf for a front on ``port`` admitting ``limit`` invocations to ``upstream``."""
    if limit < 1:
        raise ValueError(f"the front needs room for at least one invocation: {limit}")
    return CONFIG.format(
        work=work,
        port=port,
        upstream=upstream,
        limit=limit,
        timeout=timeout,
        shed_body=SHED_BODY.format(limit=limit).replace("\n", "\\n"),
    )


@contextmanager
def nginx_front(
    upstream_host: str,
    upstream_port: int,
    *,
    max_in_flight: int,
    work: Path,
    timeout: int = 60,
    ready_seconds: float = 10.0,
) -> Iterator[NginxFront]:
    """nginx in the foreground on a free loopback port until the block ends, then a
    graceful stop (it finishes what it holds and flushes its log)."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = work / "nginx.conf"
    config.write_text(
        render_config(work, port, f"{upstream_host}:{upstream_port}", max_in_flight, timeout)
    )
    command = [nginx_binary(), "-p", str(work), "-c", str(config), "-e", str(work / "error.log")]
    subprocess.run([*command, "-t", "-q"], check=True, capture_output=True)
    process = subprocess.Popen([*command, "-g", "daemon off;"])
    front = NginxFront("127.0.0.1", port, work / "answered.log")
    try:
        deadline = time.monotonic() + ready_seconds
        while not _listening(front.host, port):
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited ({process.returncode}): {work / 'error.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx did not listen on {port} in {ready_seconds}s")
            time.sleep(0.05)
        yield front
    finally:
        process.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0
