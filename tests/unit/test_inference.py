"""The four hooks' contract: formats in and out, and every bad input as a 4xx with a message."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sagemaker_inference.errors import BaseInferenceToolkitError

from inference.inference import MAX_PAYLOAD_BYTES, input_fn, model_fn, output_fn, predict_fn

ROW = "12,70.5,800,1,40,month-to-month,dsl,,true,false"
RECORD = {
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "total_charges": 800,
    "support_calls": 1,
    "age": 40,
    "contract": "month-to-month",
    "internet_service": "dsl",
    "payment_method": None,
    "paperless_billing": True,
    "senior_citizen": False,
}


@pytest.fixture(scope="module")
def model(model_run):
    return model_fn(str(model_run["model_dir"]))


def serve(model, body, content_type="text/csv", accept="text/csv"):
    return output_fn(predict_fn(input_fn(body, content_type), model), accept)


def test_csv_json_and_jsonlines_give_the_same_prediction(model) -> None:
    csv_answer = serve(model, ROW + "\n" + ROW)
    probability, label = csv_answer.splitlines()[0].split(",")
    assert 0 < float(probability) < 1 and label in ("0", "1")
    as_lists = json.dumps({"instances": [ROW.split(",")]})
    as_objects = json.dumps({"instances": [RECORD]})
    for body, ctype in (
        (as_lists, "application/json"),
        (as_objects, "application/json"),
        (json.dumps(RECORD).encode(), "application/jsonlines"),
        (ROW, "text/csv; charset=utf-8"),
    ):
        answer = json.loads(serve(model, body, ctype, "application/json"))
        assert answer["predictions"][0]["probability"] == pytest.approx(
            float(probability), abs=1e-6
        )
        assert answer["predictions"][0]["label"] == int(label)
    assert serve(model, ROW, accept="*/*") == csv_answer.splitlines()[0] + "\n"
    lines = serve(model, ROW + "\n" + ROW, accept="application/jsonlines").splitlines()
    assert [json.loads(line)["label"] for line in lines] == [int(label)] * 2


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("12,70.5,800", "text/csv", 400, "expected 10 values"),
        (ROW.replace("12,", "twelve,", 1), "text/csv", 400, "'tenure_months' must be a number"),
        (ROW.replace("month-to-month", "weekly"), "text/csv", 400, "unknown category 'weekly'"),
        (ROW.replace(",true,", ",maybe,"), "text/csv", 400, "must be true or false"),
        (ROW.replace("12,", "500,", 1), "text/csv", 400, "is outside [0, 120]"),
        (ROW.replace("12,", ",", 1), "text/csv", 400, "'tenure_months' is required"),
        ("", "text/csv", 400, "request body is empty"),
        ("   \n", "text/csv", 400, "request body is empty"),
        (
            json.dumps({"instances": [{**RECORD, "shoe_size": 42}]}),
            "application/json",
            400,
            "unknown feature(s) ['shoe_size']",
        ),
        (json.dumps([RECORD]), "application/json", 400, 'an object with an "instances" list'),
        ('{"instances": [', "application/json", 400, "not valid JSON"),
        (json.dumps({"instances": []}), "application/json", 400, "no instances"),
        ("[" * 100_000, "application/json", 400, "nested too deeply"),
        ("[" * 100_000, "application/jsonlines", 400, "nested too deeply"),
        (json.dumps({"instances": [1, 2]}), "application/json", 400, "each instance must be"),
        (b"\xff\xfe", "application/jsonlines", 400, "not UTF-8"),
        (ROW, "application/x-npy", 415, "'application/x-npy' is not supported"),
        (
            b"x" * (MAX_PAYLOAD_BYTES + 1),
            "application/jsonlines",
            413,
            "the limit is 6291456 bytes",
        ),
        ("1," * (MAX_PAYLOAD_BYTES // 2 + 1), "text/csv", 413, "the limit is"),
    ],
)
def test_bad_input_is_a_client_error_with_a_message(
    model, body, content_type, status, message
) -> None:
    with pytest.raises(BaseInferenceToolkitError) as error:
        input_fn(body, content_type)
    assert error.value.status_code == status
    assert message in error.value.message


@pytest.mark.parametrize("position", [0, 5, 8])  # numeric, categorical, boolean
@pytest.mark.parametrize("value", [[1], {"a": 1}])
def test_nested_json_values_are_400_not_500(model, position, value) -> None:
    row: list[object] = ROW.split(",")
    row[position] = value
    with pytest.raises(BaseInferenceToolkitError) as error:
        input_fn(json.dumps({"instances": [row]}), "application/json")
    assert error.value.status_code == 400
    assert "record 1: feature" in error.value.message


def test_unsupported_accept_is_415(model) -> None:
    prediction = predict_fn(input_fn(ROW, "text/csv"), model)
    with pytest.raises(BaseInferenceToolkitError) as error:
        output_fn(prediction, "application/xml")
    assert error.value.status_code == 415
    assert "accept 'application/xml' is not supported" in error.value.message


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.lists(st.sampled_from([*ROW.split(","), "", "x", "-1", "1e309", "nan", '"'])).map(
            ",".join
        ),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=5)
                | st.dictionaries(st.text(max_size=8), inner, max_size=5)
            ),
            max_leaves=20,
        ).map(json.dumps),
    ),
    content_type=st.sampled_from(
        ["text/csv", "application/json", "application/jsonlines", "text/plain", "", "TEXT/CSV"]
    ),
)
def test_arbitrary_input_raises_only_client_errors(model, body, content_type) -> None:
    try:
        data = input_fn(body, content_type)
    except BaseInferenceToolkitError as error:
        assert 400 <= error.status_code < 500 and error.message
        return
    assert len(predict_fn(data, model).scores) >= 1
