"""The delivery pipeline's post-deploy checks, on the real definition and a stubbed runtime."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from config.layout import NO_MODEL_VERSION
from config.schema import load_schema
from tools.delivery_checks import CheckFailedError, check_definition, sample_row, smoke

SNAPSHOT = Path(__file__).resolve().parents[1] / "infrastructure/snapshots/pipeline_definition.json"
SCHEMA = load_schema("churn")


def test_the_synthesized_definition_is_valid() -> None:
    assert check_definition(SNAPSHOT.read_text()) == []


def test_broken_definitions_are_named() -> None:
    definition = json.loads(SNAPSHOT.read_text())
    definition["Parameters"] = [
        p for p in definition["Parameters"] if p["Name"] != "ProcessingInstanceType"
    ]
    definition["Steps"].append(dict(definition["Steps"][0]))  # a duplicate name
    problems = check_definition(json.dumps(definition))
    assert "duplicate step names ['Preprocess']" in problems
    assert "reference to unknown parameter 'ProcessingInstanceType'" in problems
    assert check_definition("{not json")[0].startswith("the definition is not JSON")
    no_register = {"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Processing"}]}
    assert check_definition(json.dumps(no_register)) == ["no RegisterModel step"]


def test_sample_row_has_one_valid_value_per_feature() -> None:
    from features.transform import FeatureTransform

    row = sample_row(SCHEMA).split(",")
    assert len(row) == len(SCHEMA.feature_names)
    # The parser the endpoint uses accepts it (it raises on any invalid value).
    data = json.loads((Path(__file__).parents[2] / "config/datasets/churn.json").read_text())
    columns = FeatureTransform(schema_data=data).parse_rows([row])
    assert set(columns) == set(SCHEMA.feature_names)


def _clients(served: str) -> tuple[object, object, Stubber, Stubber]:
    ssm = boto3.client("ssm", region_name="us-east-1")
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    ssm_stub, runtime_stub = Stubber(ssm), Stubber(runtime)
    ssm_stub.add_response(
        "get_parameter", {"Parameter": {"Name": "p", "Value": served, "Type": "String"}}
    )
    return ssm, runtime, ssm_stub, runtime_stub


def test_smoke_skips_before_any_approved_version() -> None:
    ssm, runtime, ssm_stub, runtime_stub = _clients(NO_MODEL_VERSION)
    with ssm_stub, runtime_stub:
        message = smoke(stage="Dev", schema=SCHEMA, runtime=runtime, ssm=ssm)
    assert message.startswith("skipped: no approved model version")


@pytest.mark.parametrize(("body", "ok"), [(b"0.31,0\n", True), (b"1.7,1\n", False)])
def test_smoke_checks_the_answer(body: bytes, ok: bool) -> None:
    ssm, runtime, ssm_stub, runtime_stub = _clients("arn:aws:sagemaker:...:model-package/g/3")
    runtime_stub.add_response(
        "invoke_endpoint",
        {"Body": io.BytesIO(body), "ContentType": "text/csv"},
        {
            "EndpointName": "customer-churn-endpoint-dev",
            "ContentType": "text/csv",
            "Accept": "text/csv",
            "Body": sample_row(SCHEMA),
        },
    )
    with ssm_stub, runtime_stub:
        if ok:
            assert smoke(stage="Dev", schema=SCHEMA, runtime=runtime, ssm=ssm).startswith("ok:")
        else:
            with pytest.raises(CheckFailedError, match="outside"):
                smoke(stage="Dev", schema=SCHEMA, runtime=runtime, ssm=ssm)
