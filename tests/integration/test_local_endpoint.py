"""The local endpoint's HTTP contract: the serving container's, around inference.py.

One gunicorn worker serves a model trained by the entry points (``model_run``) with
the inference bundle exactly as synth packages it; data capture goes to S3 on moto.
"""

from __future__ import annotations

import http.client
import json
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.schema import load_schema
from local.data_capture import CaptureConfig
from local.load_client import Request, send_all
from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from local.serving import start_endpoint
from local.synthetic import generate_clean
from stacks.constructs.code_bundle import inference_members, write_archive
from training.preprocess import raw_feature_frame

CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"


@pytest.fixture(scope="module")
def rows():
    schema = load_schema("churn")
    return raw_feature_frame(schema, generate_clean(schema, 5, seed=21))


def _serving_env(platform, model_run, work, endpoint_name: str) -> dict[str, str]:
    """The container's environment: the model, the inference bundle as synth packages
    it (unpacked), and data capture under capture/<endpoint_name>/."""
    bundle = write_archive(inference_members(), work / "inference.tar.gz")
    with tarfile.open(bundle) as archive:
        archive.extractall(work / "code", filter="data")
    capture = CaptureConfig(
        bucket=ARTIFACTS_BUCKET, prefix="capture", endpoint=endpoint_name, variant="AllTraffic"
    )
    return {
        **platform.env,
        **capture.to_env(),
        "SM_MODEL_DIR": str(model_run["model_dir"]),
        "SAGEMAKER_CODE_DIR": str(work / "code"),
        "SAGEMAKER_PROGRAM": "inference.py",
    }


@pytest.fixture(scope="module")
def served(model_run, tmp_path_factory):
    """(endpoint, platform) for the module: one worker, capture of every request."""
    work = tmp_path_factory.mktemp("endpoint")
    with local_platform() as platform:
        platform.s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        env = _serving_env(platform, model_run, work, "test-endpoint")
        with start_endpoint(env, workers=1, log=work / "endpoint.log") as endpoint:
            yield endpoint, platform


def _one(endpoint, body: bytes, content_type: str, accept: str = CSV):
    [response] = send_all(endpoint.host, endpoint.port, [Request(body, content_type, accept)])
    return response


def test_ping(served) -> None:
    endpoint, _ = served
    assert endpoint.ping() == 200


def test_csv_json_and_json_lines_in_and_out(served, rows) -> None:
    endpoint, _ = served
    lines = rows.to_csv(header=False, index=False)
    csv_out = _one(endpoint, lines.encode(), CSV)
    assert csv_out.status == 200
    scores = [line.split(",") for line in csv_out.body.decode().splitlines()]
    assert len(scores) == 5 and all(0 <= float(p) <= 1 and label in "01" for p, label in scores)

    records = json.loads(rows.to_json(orient="records"))
    json_out = _one(endpoint, json.dumps({"instances": records}).encode(), JSON, JSON)
    assert json_out.status == 200
    predictions = json.loads(json_out.body)["predictions"]
    assert [round(p["probability"], 6) for p in predictions] == [float(p) for p, _ in scores]

    jsonl = "\n".join(json.dumps(r) for r in records).encode()
    jsonl_out = _one(endpoint, jsonl, JSONL, JSONL)
    assert jsonl_out.status == 200
    lines = [json.loads(line) for line in jsonl_out.body.decode().splitlines()]
    assert lines == predictions


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"1,2,3", "text/plain", 415, "content type 'text/plain' is not supported"),
        (b"", CSV, 400, "request body is empty"),
        (b"{not json", JSON, 400, "not valid JSON"),
        (b'{"rows": []}', JSON, 400, '"instances"'),
        (b"1,2", CSV, 400, "expected"),
        (b"\xff\xfe", CSV, 400, "not UTF-8"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(served, body, content_type, status, message) -> None:
    endpoint, _ = served
    response = _one(endpoint, body, content_type)
    assert response.status == status
    assert message in response.body.decode()


def test_payload_over_6_mb_is_413(served) -> None:
    endpoint, _ = served
    response = _one(endpoint, b"1" * (6 * 1024 * 1024 + 1), CSV)
    assert response.status == 413 and "limit is 6291456 bytes" in response.body.decode()


def test_unknown_accept_is_415_and_wrong_route_404(served, rows) -> None:
    endpoint, _ = served
    line = rows.to_csv(header=False, index=False).splitlines()[0].encode()
    response = _one(endpoint, line, CSV, accept="application/x-protobuf")
    assert response.status == 415
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=5)
    connection.request("GET", "/invocations")
    assert connection.getresponse().status == 405
    connection.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    content_type=st.sampled_from([CSV, JSON, JSONL, "text/plain", ""]),
)
def test_no_bad_input_is_ever_a_500(served, body, content_type) -> None:
    endpoint, _ = served
    response = _one(endpoint, body, content_type)
    assert response.status < 500, response.body


def test_captured_records_match_the_requests(served, model_run, rows, tmp_path) -> None:
    # An endpoint of its own (its own capture folder), on the module's moto server: a
    # second server would share, and reset, moto's state under the first.
    _, platform = served
    lines = rows.to_csv(header=False, index=False).splitlines()
    sent = [Request(line.encode(), CSV) for line in lines] + [Request(b"oops", CSV)]
    env = _serving_env(platform, model_run, tmp_path, "ep")
    with start_endpoint(env, workers=1, log=tmp_path / "endpoint.log") as endpoint:
        responses = send_all(endpoint.host, endpoint.port, sent)
    listing = platform.s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix="capture/ep/")
    keys = [o["Key"] for o in listing["Contents"]]
    records = [
        json.loads(line)
        for key in keys
        for line in platform.s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"]
        .read()
        .splitlines()
    ]
    assert all(
        k.startswith("capture/ep/AllTraffic/") and k.count("/") == 7 and k.endswith(".jsonl")
        for k in keys
    )
    # The malformed request was answered 400 and is not captured.
    assert [r.status for r in responses] == [200] * len(lines) + [400]
    assert [r["captureData"]["endpointInput"]["data"] for r in records] == lines
    outputs = [r["captureData"]["endpointOutput"] for r in records]
    assert [o["data"] for o in outputs] == [r.body.decode() for r in responses[:-1]]
    for record in records:
        assert record["captureData"]["endpointInput"]["observedContentType"] == CSV
        assert record["captureData"]["endpointInput"]["encoding"] == "CSV"
        assert record["captureData"]["endpointInput"]["mode"] == "INPUT"
        assert record["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
        assert len(record["eventMetadata"]["eventId"]) == 36
        assert record["eventMetadata"]["inferenceTime"].endswith("Z")
