"""A multiclass model served by the XGBoost image's stack (sagemaker-containers 2.8.6
under gunicorn, behind the service front with data capture), as in
test_xgboost_image_serving.py: the answer formats survive the real worker, and the
captured answers read back, in the monitor, as each row's class probabilities."""

from __future__ import annotations

import http.client
import json

import pytest

from config.schema import load_schema
from local.lake.synthetic import generate_clean
from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from local.serving.image.data_capture import CaptureConfig
from local.serving.load_client import Request, send_all
from local.serving.serving import start_endpoint
from monitoring.capture import parse_lines
from tests.conftest import MULTICLASS_SCHEMA
from tests.contract.conftest import stage
from training.preprocess import raw_feature_frame

CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"


@pytest.fixture(scope="module")
def schema():
    return load_schema(MULTICLASS_SCHEMA)


@pytest.fixture(scope="module")
def lines(schema) -> list[str]:
    rows = raw_feature_frame(schema, generate_clean(schema, 4, seed=21))
    return rows.to_csv(header=False, index=False).splitlines()


@pytest.fixture(scope="module")
def served(multiclass_model_run, registered_environment, tmp_path_factory):
    """(endpoint, platform): one worker, every request captured under capture/mc/."""
    work = tmp_path_factory.mktemp("multiclass-endpoint")
    staged = stage(multiclass_model_run["model_dir"], registered_environment, work)
    capture = CaptureConfig(
        bucket=ARTIFACTS_BUCKET, prefix="capture", endpoint="mc", variant="AllTraffic"
    )
    with local_platform() as platform:
        platform.s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        env = {**platform.env, **capture.to_env()}
        with start_endpoint(staged, env, workers=1, log=work / "endpoint.log") as endpoint:
            yield endpoint, platform


def _one(endpoint, body: bytes, content_type: str, accept: str):
    [response] = send_all(endpoint.host, endpoint.port, [Request(body, content_type, accept)])
    return response


def test_csv_json_and_json_lines_answers(served, schema, lines) -> None:
    endpoint, _ = served
    classes = list(schema.target.classes)
    csv_out = _one(endpoint, "\n".join(lines).encode(), CSV, CSV)
    assert csv_out.status == 200 and csv_out.content_type == CSV
    answers = [line.split(",") for line in csv_out.body.decode().splitlines()]
    assert len(answers) == len(lines)
    for answer in answers:
        probabilities = [float(v) for v in answer[:-1]]
        assert len(probabilities) == len(classes)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert answer[-1] == classes[probabilities.index(max(probabilities))]

    instances = [line.split(",") for line in lines]
    json_out = _one(endpoint, json.dumps({"instances": instances}).encode(), JSON, JSON)
    assert json_out.status == 200 and json_out.content_type == JSON
    predictions = json.loads(json_out.body)["predictions"]
    assert [p["label"] for p in predictions] == [a[-1] for a in answers]
    assert [list(p["probabilities"]) for p in predictions] == [classes] * len(lines)
    assert [list(p["probabilities"].values()) for p in predictions] == [
        [float(v) for v in a[:-1]] for a in answers
    ]
    jsonl_out = _one(endpoint, "\n".join(lines).encode(), CSV, JSONL)
    assert jsonl_out.status == 200 and jsonl_out.content_type == JSONL
    assert [json.loads(line) for line in jsonl_out.body.decode().splitlines()] == predictions


def test_no_accept_header_answers_csv_probabilities_then_class(served, schema, lines) -> None:
    endpoint, _ = served
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=10)
    connection.request("POST", "/invocations", body=lines[0], headers={"Content-Type": CSV})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == CSV
    fields = response.read().decode().strip().split(",")
    connection.close()
    assert len(fields) == len(schema.target.classes) + 1
    assert fields[-1] in schema.target.classes


def test_unknown_class_request_values_are_400(served) -> None:
    endpoint, _ = served
    response = _one(endpoint, b"50,2,lunar,true", CSV, CSV)
    assert response.status == 400 and "unknown category 'lunar'" in response.body.decode()


def test_captured_answers_read_back_as_class_probabilities(
    served, multiclass_model_run, registered_environment, schema, lines, tmp_path
) -> None:
    # An endpoint of its own on the module's moto server: capture is flushed to S3 when
    # the endpoint stops.
    _, platform = served
    staged = stage(multiclass_model_run["model_dir"], registered_environment, tmp_path)
    capture = CaptureConfig(
        bucket=ARTIFACTS_BUCKET, prefix="capture", endpoint="mc-own", variant="AllTraffic"
    )
    env = {**platform.env, **capture.to_env()}
    with start_endpoint(staged, env, workers=1, log=tmp_path / "endpoint.log") as endpoint:
        requests = [Request(line.encode(), CSV) for line in lines]
        responses = send_all(endpoint.host, endpoint.port, requests)
    expected = {
        line: tuple(float(v) for v in r.body.decode().split(",")[:-1])
        for line, r in zip(lines, responses, strict=True)
    }
    listing = platform.s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix="capture/mc-own/")
    captured = [
        line
        for item in listing["Contents"]
        for line in platform.s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=item["Key"])["Body"]
        .read()
        .splitlines()
    ]
    chunk = parse_lines(captured, schema.feature_names)
    read = {chunk.rows[i]: chunk.score(i) for i in range(len(chunk.rows))}
    assert len(captured) == len(lines)
    # Each answer is read back whole: the class probabilities, in the schema's order.
    assert read == expected
