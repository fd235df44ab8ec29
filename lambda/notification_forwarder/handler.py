"""Notification forwarder: the stage topic's SNS messages in, one chat message each out.

Thin on purpose: Powertools parses the SNS event (Parser's ``SnsModel``), reads the
webhook URL from its Secrets Manager secret (Parameters, cached five minutes: the URL is
a credential and never sits in the environment), logs, traces and counts what was sent
(metric ``NotificationsForwarded``); ``forwarding.forward`` posts.

Environment: WEBHOOK_SECRET (the secret's ARN), POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE (MLOps/Notifications).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import SnsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from forwarding import Notification, forward

METRIC = "NotificationsForwarded"
SECRET_CACHE_SECONDS = 300

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Forward every SNS record of ``event`` to the chat webhook."""
    records = parse(event=event, model=SnsModel).Records
    url = str(
        parameters.get_secret(os.environ["WEBHOOK_SECRET"], max_age=SECRET_CACHE_SECONDS)
    ).strip()
    sent = forward(
        (Notification(subject=r.Sns.Subject or "", message=str(r.Sns.Message)) for r in records),
        url,
    )
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=sent)
    logger.info("forwarded", extra={"messages": sent})
    return {"forwarded": sent}
