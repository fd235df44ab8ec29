"""The batch transform stand-in against the documentation's own examples
(docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html, the
CreateTransformJob and DataProcessing API references, batch-transform.html)."""

from __future__ import annotations

from typing import Any

import pytest

from local.pipeline.transform_job import (
    TransformError,
    check_request,
    mini_batches,
    select,
    split_records,
    transform_object,
)


def test_index_paths_as_the_supported_operators_table_gives_them() -> None:
    record = ["id", "a", "b", "c", "d"]  # "five columns and the first one is the ID column"
    assert select("$", record) == record
    assert select("$[1:]", record) == ["a", "b", "c", "d"]  # the ID column left out
    assert select("$[1,3]", record) == ["a", "c"]  # "an index or array of indexes"
    assert select("$[-1]", record) == ["d"]  # "A -1 index refers to the last element"
    joined = ["id", "f1", "f2", "f3", "f4", "p", "label"]
    assert select("$[0,5:]", joined) == ["id", "p", "label"]  # OutputFilter's API example


def test_what_the_documentation_leaves_open_is_refused_not_guessed() -> None:
    with pytest.raises(TransformError, match="closed slices"):
        select("$[2:5]", list("abcdef"))  # "inclusive" in one place, slice() in another
    with pytest.raises(TransformError, match="index JSONPaths"):
        select("$.features", ["a"])  # CSV: "only index based JSONPaths can be applied"
    with pytest.raises(TransformError, match="outside"):
        select("$[7]", ["a", "b"])
    with pytest.raises(TransformError, match="outside"):
        select("$[0,5:]", ["a", "b"])  # a slice past the record: a wrong filter, not []
    with pytest.raises(TransformError, match="not an index"):
        select("$[a]", ["a", "b"])


def test_multi_record_batches_fill_up_to_the_payload_limit_in_order() -> None:
    records = ["aaaa", "bbbb", "cccc"]
    assert mini_batches(records, 9) == [["aaaa", "bbbb"], ["cccc"]]  # "aaaa\nbbbb": 9 bytes
    assert mini_batches(records, 8) == [["aaaa"], ["bbbb"], ["cccc"]]
    # "Exceeding the MaxPayloadInMB limit causes an error ... individual records ... exceed".
    with pytest.raises(TransformError, match="exceeds MaxPayloadInMB"):
        mini_batches(["a" * 10], 9)
    assert mini_batches(records, 100, multi=False) == [["aaaa"], ["bbbb"], ["cccc"]]


class _Model:
    """A container that answers each CSV record with the sum of its fields."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[str] = []

    def __call__(self, body: str, content_type: str, accept: str) -> str:
        assert (content_type, accept) == ("text/csv", "text/csv")
        self.bodies.append(body)
        if self.status != 200:
            raise TransformError(f"the model answered {self.status}: bad record")
        return "\n".join(str(sum(map(int, r.split(",")))) for r in body.split("\n")) + "\n"


def _request(strategy: str = "MultiRecord", **processing: str) -> dict[str, Any]:
    return {
        "TransformInput": {"ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"Accept": "text/csv", "AssembleWith": "Line"},
        "BatchStrategy": strategy,
        "MaxPayloadInMB": 6,
        "DataProcessing": processing,
    }


def test_the_joined_line_is_the_input_followed_by_the_answer() -> None:
    # "if the record is [1,2,3], and the label result is [1], then the output file would
    # contain [1,2,3,1]" (here the container answers 6, the sum).
    model = _Model()
    assert transform_object(model, "1,2,3\n", _request(JoinSource="Input")) == ["1,2,3,6"]
    keyed = _request(InputFilter="$[1:]", JoinSource="Input", OutputFilter="$[0,-1]")
    out = transform_object(model, "k1,1,2\nk2,3,4\n\n", keyed)
    assert out == ["k1,3", "k2,7"]  # the key never reached the container
    assert model.bodies[-1] == "1,2\n3,4"  # both records in one request, in order
    transform_object(model, "k1,1,2\nk2,3,4\n", _request("SingleRecord", InputFilter="$[1:]"))
    assert model.bodies[-2:] == ["1,2", "3,4"]  # SingleRecord: one record per request


def test_records_split_at_newlines_only_as_the_serving_code_splits() -> None:
    assert split_records("a,1\r\nb\u2028c,2\n\n") == ["a,1", "b\u2028c,2"]
    with pytest.raises(TransformError, match="leaves a record empty"):
        transform_object(_Model(), "k1\n", _request(InputFilter="$[1:]"))


def test_a_rejected_request_fails_the_object() -> None:
    with pytest.raises(TransformError, match="answered 400"):
        transform_object(_Model(status=400), "1,2\n", _request())


def test_what_the_stand_in_does_not_run_is_refused() -> None:
    check_request(_request())
    for change in (
        {"TransformInput": {"ContentType": "application/json", "SplitType": "Line"}},
        {"TransformInput": {"ContentType": "text/csv", "SplitType": "None"}},
        {"TransformOutput": {"AssembleWith": "None"}},
        {"BatchStrategy": "Everything"},
    ):
        with pytest.raises(TransformError, match="not run locally"):
            check_request({**_request(), **change})
