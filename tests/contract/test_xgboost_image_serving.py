"""The registered model served by the XGBoost image's stack: sagemaker-containers 2.8.6.

The model directory holds what train.py writes (model, transformation, code/); the
container's environment is the one the synthesized Register step records; the image's
serving stack (toolkit module install, hook resolution, the toolkit's Worker under
gunicorn with gevent workers) answers, behind the service front (6 MB, capture).
Status codes, content types and bodies are checked for good and bad requests.
"""

from __future__ import annotations

import http.client
import json
import math
from contextlib import ExitStack

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.schema import load_schema
from local.lake.synthetic import generate_clean
from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from local.serving.image.data_capture import CaptureConfig
from local.serving.load_client import Request, send_all
from local.serving.serving import start_endpoint
from tests.contract.conftest import as_the_image, stage
from tests.hypothesis_profiles import share
from training.preprocess import raw_feature_frame

CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"


@pytest.fixture(scope="module")
def rows():
    schema = load_schema("churn")
    return raw_feature_frame(schema, generate_clean(schema, 5, seed=21))


def _capture_env(endpoint_name: str) -> dict[str, str]:
    capture = CaptureConfig(
        bucket=ARTIFACTS_BUCKET, prefix="capture", endpoint=endpoint_name, variant="AllTraffic"
    )
    return capture.to_env()


@pytest.fixture(scope="module")
def served(model_run, registered_environment, tmp_path_factory):
    """(endpoint, platform) for the module: one worker, capture of every request, started
    as the image starts (no LOCAL bytecode layer)."""
    work = tmp_path_factory.mktemp("endpoint")
    staged = stage(model_run["model_dir"], registered_environment, work)
    with local_platform() as platform, ExitStack() as serving:
        platform.s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        env = {**platform.env, **_capture_env("test-endpoint")}
        with as_the_image():
            endpoint = serving.enter_context(
                start_endpoint(staged, env, workers=1, log=work / "endpoint.log")
            )
        assert endpoint.runtime["bytecode"] == "none"
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
    assert csv_out.status == 200 and csv_out.content_type == CSV
    scores = [line.split(",") for line in csv_out.body.decode().splitlines()]
    assert len(scores) == 5 and all(0 <= float(p) <= 1 and label in "01" for p, label in scores)

    records = json.loads(rows.to_json(orient="records"))
    json_out = _one(endpoint, json.dumps({"instances": records}).encode(), JSON, JSON)
    assert json_out.status == 200 and json_out.content_type == JSON
    predictions = json.loads(json_out.body)["predictions"]
    assert [round(p["probability"], 6) for p in predictions] == [float(p) for p, _ in scores]

    jsonl = "\n".join(json.dumps(r) for r in records).encode()
    jsonl_out = _one(endpoint, jsonl, JSONL, JSONL)
    assert jsonl_out.status == 200 and jsonl_out.content_type == JSONL
    lines = [json.loads(line) for line in jsonl_out.body.decode().splitlines()]
    assert lines == predictions


def test_an_explanation_is_asked_with_an_accept_parameter(served, rows) -> None:
    """Through the toolkit's worker (it hands the Accept header over as it came), the
    image's xgboost explains each row: its SHAP values add up to its log-odds."""
    endpoint, _ = served
    records = json.loads(rows.to_json(orient="records"))
    body = json.dumps({"instances": records}).encode()
    explained = _one(endpoint, body, JSON, f"{JSON}; explain=shap")
    assert explained.status == 200 and explained.content_type == JSON
    predictions = json.loads(explained.body)["predictions"]
    assert len(predictions) == len(records)
    for prediction in predictions:
        explanation = prediction["explanation"]
        margin = explanation["expected_value"] + sum(explanation["shap"].values())
        p = prediction["probability"]
        assert margin == pytest.approx(math.log(p / (1 - p)), abs=1e-4)
    plain = json.loads(_one(endpoint, body, JSON, JSON).body)["predictions"]
    assert [p["probability"] for p in plain] == [p["probability"] for p in predictions]
    refused = _one(endpoint, body, JSON, f"{CSV}; explain=shap")
    assert refused.status == 406 and refused.content_type == JSON


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"1,2,3", "text/plain", 415, "content type 'text/plain' is not supported"),
        (b"", CSV, 400, "request body is empty"),
        (b"{not json", JSON, 400, "not valid JSON"),
        (b'{"rows": []}', JSON, 400, '"instances"'),
        (b"1,2", CSV, 400, "expected"),
        (b"\xff\xfe", JSONL, 400, "not UTF-8"),
        (b'{"instances": [[true]]}', JSON, 400, "expected 10 values"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(served, body, content_type, status, message) -> None:
    endpoint, _ = served
    response = _one(endpoint, body, content_type)
    assert response.status == status
    assert response.content_type == JSON
    assert message in json.loads(response.body)["message"]


def test_no_accept_header_answers_csv(served, rows) -> None:
    # The worker substitutes SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (from the registered
    # environment) for a missing Accept.
    endpoint, _ = served
    line = rows.to_csv(header=False, index=False).splitlines()[0]
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=10)
    connection.request("POST", "/invocations", body=line, headers={"Content-Type": CSV})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == CSV
    assert len(response.read().decode().split(",")) == 2
    connection.close()


def test_payload_over_6_mb_is_413(served) -> None:
    endpoint, _ = served
    response = _one(endpoint, b"1" * (6 * 1024 * 1024 + 1), CSV)
    assert response.status == 413 and "limit is 6291456 bytes" in response.body.decode()


def test_unknown_accept_is_406_and_wrong_method_405(served, rows) -> None:
    endpoint, _ = served
    line = rows.to_csv(header=False, index=False).splitlines()[0].encode()
    response = _one(endpoint, line, CSV, accept="application/x-protobuf")
    assert response.status == 406 and response.content_type == JSON
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=5)
    connection.request("GET", "/invocations")
    assert connection.getresponse().status == 405
    connection.close()


@settings(
    max_examples=share(3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    content_type=st.sampled_from([CSV, JSON, JSONL, "text/plain", ""]),
)
def test_no_bad_input_is_ever_a_500(served, body, content_type) -> None:
    endpoint, _ = served
    response = _one(endpoint, body, content_type)
    assert response.status < 500, response.body


def test_captured_records_match_the_requests(
    served, model_run, registered_environment, rows, tmp_path
) -> None:
    # An endpoint of its own (its own capture folder), on the module's moto server: a
    # second server would share, and reset, moto's state under the first.
    _, platform = served
    lines = rows.to_csv(header=False, index=False).splitlines()
    sent = [Request(line.encode(), CSV) for line in lines] + [Request(b"oops", CSV)]
    staged = stage(model_run["model_dir"], registered_environment, tmp_path)
    env = {**platform.env, **_capture_env("ep")}
    with start_endpoint(staged, env, workers=1, log=tmp_path / "endpoint.log") as endpoint:
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


def _hooks_module(staged, extra: str) -> None:
    program = staged.code_dir / staged.program
    program.write_text(program.read_text() + extra)


def test_the_image_refuses_transform_fn_next_to_the_other_hooks(
    model_run, registered_environment, tmp_path
) -> None:
    staged = stage(model_run["model_dir"], registered_environment, tmp_path)
    _hooks_module(staged, "\n\ndef input_fn(body, content_type):\n    return body\n")
    # The refusal ends the server at boot: start_endpoint sees the process exit.
    with (
        pytest.raises(RuntimeError, match="endpoint exited"),
        start_endpoint(staged, {}, workers=1, log=tmp_path / "endpoint.log"),
    ):
        pass
    assert (
        "Cannot use transform_fn implementation with input_fn"
        in (tmp_path / "endpoint.log").read_text()
    )


def test_an_exception_in_a_hook_is_a_500(model_run, registered_environment, tmp_path) -> None:
    # Why transform_fn answers client faults itself: the toolkit turns any exception a
    # hook raises into a 500, whatever status the exception carries.
    staged = stage(model_run["model_dir"], registered_environment, tmp_path)
    _hooks_module(
        staged,
        "\n\ndef transform_fn(model, body, content_type, accept):\n"
        "    raise ValueError('a client fault, raised')\n",
    )
    with start_endpoint(staged, {}, workers=1, log=tmp_path / "endpoint.log") as endpoint:
        response = _one(endpoint, b"1", CSV)
    assert response.status == 500 and response.content_type.startswith("text/html")


def test_without_its_declared_pip_setting_the_isolated_model_cannot_start(
    model_run, registered_environment, tmp_path
) -> None:
    # The model package declares the pip setting the toolkit's install needs offline; an
    # isolated container without it never answers /ping (the model would not go InService).
    environment = dict(registered_environment)
    assert environment.pop("PIP_NO_BUILD_ISOLATION") == "false"
    staged = stage(model_run["model_dir"], environment, tmp_path)
    with (
        pytest.raises(RuntimeError, match="endpoint exited"),
        start_endpoint(staged, {}, workers=1, log=tmp_path / "endpoint.log"),
    ):
        pass
    assert "when installing build dependencies" in (tmp_path / "endpoint.log").read_text()
