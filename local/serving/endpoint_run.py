"""``make run``'s serving step: approve, host and call the latest model, as in Dev.

Approves the version the pipeline registered (a reviewer's decision in the cloud),
stages the latest *Approved* package the way the serving container does, starts the
local endpoint with data capture into the artifacts bucket on moto, sends a mix of
valid and malformed requests, and reports status counts, latency and capture files.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from config.layout import DATA_CAPTURE_PREFIX, VARIANT_NAME
from config.schema import DatasetSchema, FeatureType
from local.lake.synthetic import generate_clean
from local.moto_platform import ARTIFACTS_BUCKET, LocalPlatform
from local.service_metrics import SAGEMAKER, Invocation, endpoint_data, put
from local.serving.hosted_model import stage_model_package
from local.serving.image.data_capture import CaptureConfig
from local.serving.load_client import (
    Request,
    Response,
    count_capture_records,
    send_all,
    summarize,
)
from local.serving.serving import RunningEndpoint, start_endpoint
from training.preprocess import raw_feature_frame

CSV, JSON = "text/csv", "application/json"
# How long an answered request may take to reach S3 as capture (the front ships every
# ``CaptureConfig.flush_seconds``).
CAPTURE_WAIT_SECONDS = 30.0
Seen = TypeVar("Seen")


def wait_for_capture(
    read: Callable[[], Seen], enough: Callable[[Seen], bool], describe: Callable[[Seen], str]
) -> Seen:
    """``read()`` (what capture holds in S3) again until ``enough`` of it is there: the
    front ships capture periodically. Raises with ``describe`` of the last reading."""
    deadline = time.monotonic() + CAPTURE_WAIT_SECONDS
    while not enough(seen := read()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{describe(seen)}: capture did not reach S3 in time")
        time.sleep(0.25)
    return seen


def latest_approved(platform: LocalPlatform) -> str:
    """The newest Approved version of the stage's group (what the delivery pipeline deploys)."""
    listing = platform.sagemaker.list_model_packages(
        ModelPackageGroupName=platform.model_package_group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )["ModelPackageSummaryList"]
    if not listing:
        raise RuntimeError(f"no approved model package in {platform.model_package_group}")
    return str(listing[0]["ModelPackageArn"])


# A value each feature type rejects: not a number, not a known category, not a boolean,
# not a time.
INVALID_VALUE = {
    FeatureType.NUMERIC: "abc",
    FeatureType.CATEGORICAL: "no-such-category",
    FeatureType.BOOLEAN: "perhaps",
    FeatureType.TIMESTAMP: "not-a-time",
}


def _malformed(schema: DatasetSchema, csv_line: str) -> list[Request]:
    """One request per kind of bad input a client can send: a bad value for each feature
    type the schema has (the first feature of that type), whatever mix of types it is."""
    fields = csv_line.split(",")
    bad_values = []
    for feature_type, invalid in INVALID_VALUE.items():
        index = next((i for i, f in enumerate(schema.features) if f.type is feature_type), None)
        if index is not None:
            broken = list(fields)
            broken[index] = invalid
            bad_values.append(Request(",".join(broken).encode(), CSV))
    return [
        Request(",".join(fields[:-1]).encode(), CSV),  # a field short
        *bad_values,
        Request(csv_line.encode(), "text/plain"),  # unsupported content type
        Request(b"{not json", JSON),
        Request(b"", CSV),
    ]


def request_mix(
    schema: DatasetSchema, count: int, seed: int = 3, rows: pd.DataFrame | None = None
) -> list[Request]:
    """``count`` requests: one-row CSV mostly, some JSON, every tenth malformed. The rows
    are generated, or the first ``count`` of ``rows`` (typed, as in the processed zone)."""
    source = generate_clean(schema, count, seed=seed) if rows is None else rows.head(count)
    count = len(source)
    rows = raw_feature_frame(schema, source)
    lines = rows.to_csv(header=False, index=False).splitlines()
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        for record in rows.to_dict(orient="records")
    ]
    bad = cycle(_malformed(schema, lines[0]))
    requests = []
    for i in range(count):
        if i % 10 == 9:
            requests.append(next(bad))
        elif i % 10 == 4:
            body = json.dumps({"instances": [records[i]]}).encode()
            requests.append(Request(body, JSON, accept=JSON))
        else:
            requests.append(Request(lines[i].encode(), CSV))
    return requests


def invoke(
    platform: LocalPlatform, host: str, port: int, endpoint_name: str, requests: list[Request]
) -> list[Response]:
    """Send ``requests`` to the local endpoint, and put SageMaker's invocation metrics for
    them into the platform's CloudWatch (LOCAL stand-in: SageMaker publishes these)."""
    responses = send_all(host, port, requests)
    invocations = [Invocation(r.sent_at, r.status, r.seconds) for r in responses]
    put(platform.client("cloudwatch"), SAGEMAKER, endpoint_data(endpoint_name, invocations))
    return responses


@contextmanager
def hosted_endpoint(
    platform: LocalPlatform, arn: str, work_dir: Path, *, endpoint_name: str, workers: int = 2
) -> Iterator[RunningEndpoint]:
    """Model package ``arn`` staged and served as the endpoint does, capturing every
    request into the artifacts bucket (moto) under ``endpoint_name``."""
    staged = stage_model_package(platform.sagemaker, platform.s3, arn, work_dir / "container")
    capture = CaptureConfig(
        bucket=ARTIFACTS_BUCKET,
        prefix=DATA_CAPTURE_PREFIX,
        endpoint=endpoint_name,
        variant=VARIANT_NAME,
        sampling_percentage=100,
    )
    env = {**platform.env, **capture.to_env()}
    with start_endpoint(staged, env, workers=workers, log=work_dir / "endpoint.log") as endpoint:
        yield endpoint


def probe(
    platform: LocalPlatform,
    schema: DatasetSchema,
    endpoint: RunningEndpoint,
    *,
    arn: str,
    endpoint_name: str,
    requests: int = 300,
    rows: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Call the running ``endpoint`` (serving ``arn``) and return the ``endpoint`` summary,
    once every answered request's capture is in S3 (it stays up for the monitor's
    traffic, as the Dev endpoint does).

    ``rows``: the user's held-out rows to send (typed), instead of generated ones."""
    mix = request_mix(schema, requests, rows=rows)
    responses = invoke(platform, endpoint.host, endpoint.port, endpoint_name, mix)
    counts = summarize(responses)
    prefix = f"{DATA_CAPTURE_PREFIX}/{endpoint_name}/"
    records = wait_for_capture(
        lambda: count_capture_records(platform.s3, ARTIFACTS_BUCKET, prefix),
        lambda seen: seen >= counts["requests_ok"],
        lambda seen: f"capture holds {seen} records of {counts['requests_ok']} answered requests",
    )
    listing = platform.s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=prefix)
    keys = [item["Key"] for item in listing.get("Contents", [])]
    return {
        "endpoint_name": endpoint_name,
        "model_package_arn": arn,
        "workers": endpoint.workers,
        "runtime": endpoint.runtime,
        **counts,
        "capture_files": len(keys),
        "capture_records": records,
        "capture_location": f"s3://{ARTIFACTS_BUCKET}/{prefix}",
        "capture_keys": keys,
    }
