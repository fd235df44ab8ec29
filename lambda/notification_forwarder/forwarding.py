"""What the notification forwarder does, as plain functions over explicit inputs: each SNS
message becomes one JSON POST ``{"text": ...}`` to the chat webhook (the shape Slack's and
Microsoft Teams' incoming webhooks accept), over HTTPS only.

A webhook that refuses a message (a non-2xx answer, or no answer) raises
``WebhookError``: the invocation fails, Lambda retries it, and after its retries the
event lands in the function's dead-letter queue, so a page is never dropped silently.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

TIMEOUT_SECONDS = 10
# Chat services cap a message's text (Slack: 40,000 characters); stay well below.
MAX_TEXT = 3000


class WebhookError(RuntimeError):
    """The webhook did not accept a message."""


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str

    def text(self) -> str:
        """The chat line: the subject (alarm notifications have one) then the message."""
        body = f"*{self.subject}*\n{self.message}" if self.subject else self.message
        return body[:MAX_TEXT]


Post = Callable[[str, bytes], int]  # (url, JSON body) -> HTTP status


def post_json(url: str, body: bytes) -> int:
    """POST ``body`` as JSON to ``url`` (https only); returns the HTTP status."""
    if not url.startswith("https://"):
        raise WebhookError("the webhook URL is not https")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return int(response.status)


def forward(notifications: Iterable[Notification], url: str, post: Post | None = None) -> int:
    """Send each notification to the webhook (``post``: ``post_json``); returns how many
    were accepted."""
    post = post or post_json
    sent = 0
    for notification in notifications:
        try:
            status = post(url, json.dumps({"text": notification.text()}).encode())
        except OSError as error:  # no answer (DNS, TLS, timeout)
            raise WebhookError(f"the webhook did not answer: {type(error).__name__}") from error
        if not 200 <= status < 300:
            raise WebhookError(f"the webhook answered HTTP {status}")
        sent += 1
    return sent
