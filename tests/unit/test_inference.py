"""transform_fn's contract, in-process: formats in and out, and every client fault as a
4xx reply with a JSON message (the real serving stack is exercised in tests/contract)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference import inference
from inference.inference import model_fn, response_type, transform_fn

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
CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"


@pytest.fixture(scope="module")
def model(model_run):
    return model_fn(str(model_run["model_dir"]))


def serve(model, body, content_type=CSV, accept=CSV):
    return transform_fn(model, body, content_type, accept)


def test_only_model_fn_and_transform_fn_are_hooks() -> None:
    # The image refuses transform_fn next to any of the trio, so none may exist.
    assert callable(inference.transform_fn) and callable(inference.model_fn)
    assert not any(hasattr(inference, h) for h in ("input_fn", "predict_fn", "output_fn"))


def test_csv_json_and_jsonlines_give_the_same_prediction(model) -> None:
    csv_answer = serve(model, ROW + "\n" + ROW)
    assert csv_answer.status == 200 and csv_answer.content_type == CSV
    probability, label = csv_answer.text.splitlines()[0].split(",")
    assert 0 < float(probability) < 1 and label in ("0", "1")
    as_lists = json.dumps({"instances": [ROW.split(",")]})
    as_objects = json.dumps({"instances": [RECORD]})
    for body, ctype in (
        (as_lists, JSON),
        (as_objects, JSON),
        (json.dumps(RECORD).encode(), JSONL),
        (ROW, "text/csv; charset=utf-8"),
        (ROW.encode(), CSV),
    ):
        answer = serve(model, body, ctype, JSON)
        assert answer.status == 200 and answer.content_type == JSON
        prediction = json.loads(answer.body)["predictions"][0]
        assert prediction["probability"] == pytest.approx(float(probability), abs=1e-6)
        assert prediction["label"] == int(label)
    assert serve(model, ROW, accept="*/*").text == csv_answer.text.splitlines()[0] + "\n"
    jsonl = serve(model, ROW + "\n" + ROW, accept=JSONL)
    assert jsonl.content_type == JSONL
    assert [json.loads(line)["label"] for line in jsonl.text.splitlines()] == [int(label)] * 2


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("", CSV),
        ("*/*", CSV),
        ("application/json", JSON),
        ("application/xml, application/json;q=0.5", JSON),
        ("application/json;q=0.2, text/csv;q=0.9", CSV),
        ("application/*", JSON),
        ("text/csv;q=0, application/jsonlines", JSONL),
    ],
)
def test_accept_negotiation(accept, chosen) -> None:
    assert response_type(accept) == chosen


def _huge(digits: int) -> str:
    return json.dumps({"instances": [ROW.split(",")]}).replace('"12"', "9" * digits, 1)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("12,70.5,800", CSV, 400, "record 1: expected 10 values"),
        (ROW.replace("12,", "twelve,", 1), CSV, 400, "'tenure_months' must be a number"),
        (ROW.replace("12,", "1_2,", 1), CSV, 400, "must be a number, got '1_2'"),
        (ROW.replace("12,", "nan,", 1), CSV, 400, "must be a number, got 'nan'"),
        (ROW.replace("12,", "0x1,", 1), CSV, 400, "must be a number"),
        (ROW.replace("12,", "1e999,", 1), CSV, 400, "must be a finite number"),
        (ROW.replace("month-to-month", "weekly"), CSV, 400, "unknown category 'weekly'"),
        (ROW.replace("dsl", "d\u2028sl"), CSV, 400, "record 1: feature 'internet_service'"),
        (ROW.replace(",true,", ",maybe,"), CSV, 400, "must be true or false"),
        (ROW.replace("12,", "500,", 1), CSV, 400, "is outside [0, 120]"),
        (ROW.replace("12,", ",", 1), CSV, 400, "'tenure_months' is required"),
        (ROW + "\n" + ROW.replace("40,", "x,", 1), CSV, 400, "record 2: feature 'age'"),
        ('"unterminated,1', CSV, 400, "record 1"),
        ("", CSV, 400, "request body is empty"),
        ("   \n", CSV, 400, "request body is empty"),
        (
            json.dumps({"instances": [{**RECORD, "shoe_size": 42}]}),
            JSON,
            400,
            "unknown feature(s) ['shoe_size']",
        ),
        (json.dumps({"instances": [{**RECORD, "age": True}]}), JSON, 400, "'age' must be a number"),
        (json.dumps({"instances": [{**RECORD, "age": "40"}]}), JSON, 200, ""),
        (json.dumps({"instances": [{**RECORD, "age": float("nan")}]}), JSON, 400, "NaN"),
        (_huge(400), JSON, 400, "'tenure_months' must be a finite number"),
        (_huge(5000), JSON, 400, "'tenure_months' must be a finite number"),
        (json.dumps([RECORD]), JSON, 400, 'an object with an "instances" list'),
        ('{"instances": [', JSON, 400, "not valid JSON"),
        (json.dumps({"instances": []}), JSON, 400, "no instances"),
        ("[" * 100_000, JSON, 400, "nested too deeply"),
        ("[" * 100_000, JSONL, 400, "nested too deeply"),
        (json.dumps({"instances": [1, 2]}), JSON, 400, "each instance must be"),
        (b"\xff\xfe", JSONL, 400, "not UTF-8"),
        (b"\xff\xfe", CSV, 400, "not UTF-8"),
        (ROW, "application/x-npy", 415, "'application/x-npy' is not supported"),
        (ROW, "", 415, "is not supported"),
    ],
)
def test_client_faults_are_4xx_with_a_message(model, body, content_type, status, message) -> None:
    reply = serve(model, body, content_type)
    assert reply.status == status, reply.text
    if status != 200:
        assert reply.content_type == JSON
        assert message in json.loads(reply.body)["message"]


@pytest.mark.parametrize("position", [0, 5, 8])  # numeric, categorical, boolean
@pytest.mark.parametrize("value", [[1], {"a": 1}])
def test_nested_json_values_are_400_not_500(model, position, value) -> None:
    row: list[object] = ROW.split(",")
    row[position] = value
    reply = serve(model, json.dumps({"instances": [row]}), JSON)
    assert reply.status == 400 and "record 1: feature" in reply.text


def test_accept_is_checked_before_the_body(model) -> None:
    reply = serve(model, "not even csv", CSV, "application/xml")
    assert reply.status == 406
    assert "accept 'application/xml' is not supported" in json.loads(reply.body)["message"]


def test_a_reply_is_a_wsgi_response() -> None:
    reply = inference.error_reply(inference.HTTPStatus.BAD_REQUEST, "bad")
    sent: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(reply({}, lambda status, headers: sent.append((status, headers))))
    assert sent == [
        ("400 Bad Request", [("Content-Type", JSON), ("Content-Length", str(len(body)))])
    ]
    assert json.loads(body) == {"error": "Bad Request", "message": "bad"}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.lists(st.sampled_from([*ROW.split(","), "", "x", "-1", "1e309", "nan", '"'])).map(
            ",".join
        ),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=5)
                | st.dictionaries(st.text(max_size=8), inner, max_size=5)
            ),
            max_leaves=20,
        ).map(json.dumps),
    ),
    content_type=st.sampled_from([CSV, JSON, JSONL, "text/plain", "", "TEXT/CSV"]),
    accept=st.sampled_from([CSV, JSON, JSONL, "*/*", "", "text/html", "application/*;q=0"]),
)
def test_arbitrary_requests_get_an_answer_never_an_exception(
    model, body, content_type, accept
) -> None:
    reply = serve(model, body, content_type, accept)
    assert reply.status == 200 or 400 <= reply.status < 500
    if reply.status != 200:
        assert json.loads(reply.body)["message"]


float32_values = st.floats(width=32, allow_nan=False, allow_infinity=False)
any_values = st.one_of(float32_values, st.floats(), st.sampled_from([-0.0, 1 / 128, -3 / 128]))


@settings(deadline=None)
@given(
    values=st.lists(st.one_of(float32_values, st.floats(0, 1, width=32)), min_size=1, max_size=40)
    | st.lists(any_values, min_size=1, max_size=40),
    kind=st.sampled_from(["binary", "regression", "multiclass"]),
)
def test_pyarrow_writes_the_csv_answer_exactly_as_the_percent_format(values, kind) -> None:
    # Large answers are written by pyarrow (decimal64 millionths), small ones by one
    # %-format: byte for byte the same, or pyarrow's path steps aside.
    repeats = -(-inference.ARROW_CSV_MIN_RECORDS // len(values))
    scores = np.array(values * repeats * 3, dtype=np.float64)
    classes: tuple[str, ...] = ()
    if kind == "multiclass":
        scores, classes = scores.reshape(-1, 3), ("setosa", "versicolor", "virginica")
    binary = kind == "binary"
    answer = inference.serialize(scores, binary, CSV, classes)
    assert answer.body == inference._percent_csv(scores, binary, classes).encode()
    with np.errstate(over="ignore"):
        float32 = np.array_equal(scores.astype(np.float32), scores)
    if float32 and np.all(np.abs(scores) < 1e11):
        negative_zero = np.signbit(np.rint(scores * 1e6)) & (np.rint(scores * 1e6) == 0)
        assert (inference._millionths(scores) is None) == bool(negative_zero.any())


@pytest.mark.parametrize(
    "accept", [f"{JSON}; explain=shap", f"{JSONL};explain=SHAP", f"{CSV}, {JSON}; explain=shap"]
)
def test_an_explained_prediction_adds_up_to_its_margin(model, accept) -> None:
    answer = serve(model, ROW + "\n" + ROW.replace("12,", "60,", 1), accept=accept)
    assert answer.status == 200 and answer.content_type == accept.split(";")[0].split(", ")[-1]
    lines = answer.text.splitlines()
    items = (
        json.loads(answer.text)["predictions"]
        if answer.content_type == JSON
        else [json.loads(line) for line in lines]
    )
    for item in items:
        explanation = item["explanation"]
        shap = explanation["shap"]
        assert list(shap) == model.transform.schema.model_feature_names()
        margin = explanation["expected_value"] + sum(shap.values())
        p = item["probability"]
        assert margin == pytest.approx(np.log(p / (1 - p)), abs=1e-4)
    plain = json.loads(serve(model, ROW, accept=JSON).text)["predictions"][0]
    assert "explanation" not in plain and plain["probability"] == items[0]["probability"]


@pytest.mark.parametrize(
    ("accept", "message"),
    [
        (f"{CSV}; explain=shap", "come as application/json or application/jsonlines"),
        ("*/*; explain=shap", "come as application/json or application/jsonlines"),
        (f"{JSON}; explain=lime", "explain='lime' is not supported; use explain=shap"),
    ],
)
def test_an_explanation_asked_wrongly_is_406(model, accept, message) -> None:
    answer = serve(model, ROW, accept=accept)
    assert answer.status == 406 and message in json.loads(answer.text)["message"]
