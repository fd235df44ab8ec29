"""The load test's nginx front: its config, its log, and that it sheds past its room
with the runtime's 503 (nginx installed by ``make test-tools``, part of ``make test``)."""

from __future__ import annotations

import http.client
import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from local.serving.nginx_front import NGINX_PATHS, NginxFront, nginx_front, render_config


def test_config_admits_the_room_and_proxies_to_the_container(tmp_path: Path) -> None:
    config = render_config(tmp_path, 8080, "127.0.0.1:9000", limit=16, timeout=60)
    assert "limit_conn instance 16;" in config
    assert "limit_conn_status 503;" in config
    assert "server 127.0.0.1:9000;" in config
    assert "listen 127.0.0.1:8080" in config


def test_a_front_without_room_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_config(tmp_path, 8080, "127.0.0.1:9000", limit=0, timeout=60)


def test_the_log_counts_answers_by_status_and_delivery(tmp_path: Path) -> None:
    log = tmp_path / "answered.log"
    log.write_text("200 200 OK\n200 200 OK\n200 200 \n502 502 OK\n")
    front = NginxFront("127.0.0.1", 1, log)
    assert front.answered() == Counter(
        {("200", "200", True): 2, ("200", "200", False): 1, ("502", "502", True): 1}
    )


class _Slow(BaseHTTPRequestHandler):
    """A container that takes 0.5 s per invocation."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.5)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_past_its_room_the_front_answers_503_at_once(tmp_path: Path) -> None:
    # Never skipped: `make test` installs nginx (`make test-tools`), and a run without it
    # fails here with the reason rather than passing a check it never made.
    assert shutil.which("nginx") or shutil.which("nginx", path=":".join(NGINX_PATHS)), (
        "nginx is not installed: `make test-tools` installs it (apt-get install nginx)"
    )
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    statuses: list[tuple[int, str | None, float]] = []

    def invoke(port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.perf_counter()
        connection.request(
            "POST", "/invocations", body=b"1,2", headers={"Content-Type": "text/csv"}
        )
        reply = connection.getresponse()
        reply.read()
        took = time.perf_counter() - started
        statuses.append((reply.status, reply.getheader("x-amzn-ErrorType"), took))
        connection.close()

    try:
        with nginx_front(
            "127.0.0.1", upstream.server_port, max_in_flight=1, work=tmp_path
        ) as front:
            first = threading.Thread(target=invoke, args=(front.port,))
            first.start()
            time.sleep(0.2)  # the first is in the container now
            invoke(front.port)
            first.join()
    finally:
        upstream.shutdown()
    assert sorted(s[:2] for s in statuses) == [(200, None), (503, "ServiceUnavailable")]
    shed = next(s for s in statuses if s[0] == 503)
    assert shed[2] < 0.25  # refused at once, not queued behind the one in flight
    assert front.answered() == Counter({("200", "200", True): 1})
