"""The local monitoring loop's pure parts: which features the demo shifts, the changed
concept, ground truth joined to capture by eventId, and cdk.out intrinsics resolved with
local names (an unknown one is an error naming it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from config.schema import load_schema
from local.cdk_assembly import AssemblyError
from local.monitoring.assembly import resolve
from local.monitoring.shifted_traffic import (
    default_shift,
    feature_lines,
    ground_truth_for_capture,
    labels_by_request,
    shifted_concept,
    shifted_frame,
)
from local.serving.image.data_capture import capture_record


@pytest.fixture(scope="module")
def schema():
    return load_schema("churn")


def test_default_shift_picks_one_independent_driver_per_type(schema) -> None:
    # tenure_months and monthly_charges drive the target too, but total_charges is derived
    # from them: shifting them would make a fourth feature drift.
    assert default_shift(schema) == {"age": 0.3, "contract": 0.4, "paperless_billing": 0.3}


def test_shifted_concept_reverses_only_the_shifted_effects(schema) -> None:
    shift = default_shift(schema)
    before = schema.target.synthetic["effects"]
    after = shifted_concept(schema, shift).target.synthetic["effects"]
    assert after["age"] == -before["age"]
    assert after["contract"] == {k: -v for k, v in before["contract"].items()}
    assert after["paperless_billing"] == -before["paperless_billing"]
    unchanged = set(before) - set(shift)
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert schema.target.synthetic["effects"] == before  # the schema itself is untouched


def test_ground_truth_joins_capture_by_event_id(schema) -> None:
    frame = shifted_frame(schema, 5, seed=3, shift=default_shift(schema))
    bodies = feature_lines(schema, frame)
    capture = [
        json.dumps(
            capture_record(
                request_type="text/csv",
                request=body.encode(),
                response_type="text/csv",
                response=b"0.5,1\n",
                at=datetime(2026, 12, 1, tzinfo=UTC),
                event_id=f"event-{i}",
            )
        )
        for i, body in enumerate(bodies)
    ]
    capture.append(
        json.dumps(
            capture_record(
                request_type="text/csv",
                request=b"an,unlabelled,request",
                response_type="text/csv",
                response=b"0.5,1\n",
                at=datetime(2026, 12, 1, tzinfo=UTC),
                event_id="event-unlabelled",
            )
        )
    )
    lines = [
        json.loads(x) for x in ground_truth_for_capture(capture, labels_by_request(schema, frame))
    ]
    assert [x["eventMetadata"]["eventId"] for x in lines] == [f"event-{i}" for i in range(5)]
    assert [x["groundTruthData"]["data"] for x in lines] == [
        str(v) for v in frame[schema.target.name]
    ]
    assert all(x["groundTruthData"]["encoding"] == "CSV" for x in lines)


def test_resolve_fills_intrinsics_with_local_names() -> None:
    names = {"Dev-DataLake-RawBucketName": "local-raw", "JobRole.Arn": "arn:role"}
    value = {
        "Fn::Join": [
            "",
            [
                "s3://",
                {"Fn::ImportValue": "Dev-DataLake-RawBucketName"},
                "/x ",
                {"Fn::GetAtt": ["JobRole", "Arn"]},
            ],
        ]
    }
    assert resolve(value, names.get) == "s3://local-raw/x arn:role"
    with pytest.raises(AssemblyError, match="Ref Table has no local value"):
        resolve({"Ref": "Table"}, names.get)
    with pytest.raises(AssemblyError, match="cannot resolve"):
        resolve({"Fn::FindInMap": ["Map", "Key", "Value"]}, names.get)
