"""The local endpoint overloaded for a few seconds: the service front sheds, nothing breaks.

One gevent worker behind the front with room for 4 invocations in flight, 32 clients
sending as fast as they are answered (8x the room). What the SageMaker runtime does
with an instance it cannot feed is the contract: answer 503 (ServiceUnavailable) to
what it does not dispatch, never a 500 or a dropped connection; every request answered
200 is captured exactly once (none of the shed ones); afterwards the endpoint answers
every request again. ``bench/overload.py`` is the 60 s version with latency figures.
"""

from __future__ import annotations

from collections import Counter

import pytest

from config.schema import load_schema
from local.lake.synthetic import generate_clean
from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from local.serving.image.data_capture import CaptureConfig
from local.serving.load_client import (
    Request,
    closed_loop,
    count_capture_records,
    send_all,
)
from local.serving.serving import start_endpoint
from tests.contract.conftest import stage
from training.preprocess import raw_feature_frame

ROOM = 4
CLIENTS = 32
PREFIX = "overload-capture"


@pytest.fixture(scope="module")
def overload(model_run, registered_environment, tmp_path_factory):
    work = tmp_path_factory.mktemp("overload")
    staged = stage(model_run["model_dir"], registered_environment, work)
    schema = load_schema("churn")
    row = raw_feature_frame(schema, generate_clean(schema, 1, seed=9))
    request = Request(row.to_csv(header=False, index=False).strip().encode(), "text/csv")
    capture = CaptureConfig(
        bucket=ARTIFACTS_BUCKET, prefix=PREFIX, endpoint="overload", variant="AllTraffic"
    )
    with local_platform() as platform:
        platform.s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        env = {**platform.env, **capture.to_env(), "FRONT_MAX_IN_FLIGHT": str(ROOM)}
        with start_endpoint(staged, env, workers=1, log=work / "endpoint.log") as endpoint:
            during = closed_loop(
                endpoint.host, endpoint.port, request, connections=CLIENTS, seconds=4.0
            )
            after = send_all(endpoint.host, endpoint.port, [request] * 50)
        # The endpoint has stopped: its worker uploaded what it still held.
        captured = count_capture_records(platform.s3, ARTIFACTS_BUCKET, PREFIX)
    return during, after, captured


def test_overload_is_shed_with_503_never_500_or_dropped(overload) -> None:
    during, _, _ = overload
    statuses = Counter(r.status for r in during)
    assert statuses[503] > 0, statuses  # it was overloaded, and said so
    assert statuses[200] > 0, statuses  # while still answering what it admitted
    assert set(statuses) <= {200, 503}, statuses  # no 500, no 4xx, no dropped (0)


def test_every_answered_request_is_captured_once(overload) -> None:
    during, after, captured = overload
    answered = sum(r.status == 200 for r in during + after)
    assert captured == answered


def test_the_endpoint_recovers_after_the_overload(overload) -> None:
    _, after, _ = overload
    assert [r.status for r in after] == [200] * 50
