"""Every AWS call that reaches the local moto server, with who made it.

The recorder wraps the one place moto authorizes each request, so it sees the calls of
every process that talks to the server, as the service received them. Each runtime signs
with an access key of its own, which attributes a call to its role. moto's own IAM
enforcement stays off (docs/security.md says why); ``policy_evaluation`` decides instead.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin

CREDENTIAL = re.compile(r"Credential=([^/]+)/")


@dataclass(frozen=True)
class RecordedCall:
    """One request as the service saw it."""

    access_key: str
    service: str
    operation: str
    method: str
    params: dict[str, Any]
    # moto's S3 resource (arn:aws:s3:::bucket[/key]); "*" for other services.
    resource: str = "*"


def _params(response: Any, service: str) -> dict[str, Any]:
    query = {
        k: (v[0] if isinstance(v, list) and len(v) == 1 else v)
        for k, v in response.querystring.items()
    }
    if service == "s3":  # REST: the parameters are in the path and query; the body is data
        return query
    body = response.body if response.body else getattr(response, "raw_body", b"")
    if isinstance(body, dict):  # some services' responses hold the parsed JSON already
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if body and body.lstrip().startswith("{"):
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    if len(query) == 1 and next(iter(query)).lstrip().startswith("{"):
        parsed = json.loads(next(iter(query)))
        return parsed
    return query


@dataclass
class CallRecorder:
    """The calls recorded while ``recording()`` is active, in arrival order."""

    calls: list[RecordedCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def by(self, access_key: str) -> list[RecordedCall]:
        """The calls signed with ``access_key``."""
        with self._lock:
            return [c for c in self.calls if c.access_key == access_key]

    @contextmanager
    def recording(self) -> Iterator[CallRecorder]:
        """Record every request moto authorizes (in any thread) for the block."""
        original = ActionAuthenticatorMixin._authenticate_and_authorize_action
        recorder = self

        def record(response: Any, iam_request_cls: type, resource: str = "*") -> None:
            found = CREDENTIAL.search(response.headers.get("Authorization", ""))
            service = str(getattr(response, "service_name", "") or "")
            call = RecordedCall(
                access_key=found.group(1) if found else "",
                service=service,
                operation=str(response._get_action()),
                method=str(response.method),
                params=_params(response, service),
                resource=resource,
            )
            with recorder._lock:
                recorder.calls.append(call)
            original(response, iam_request_cls, resource)

        ActionAuthenticatorMixin._authenticate_and_authorize_action = record  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            ActionAuthenticatorMixin._authenticate_and_authorize_action = original  # type: ignore[method-assign]
