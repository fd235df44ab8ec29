"""The batch transform stand-in against the documentation's own examples
(docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html, the
CreateTransformJob and DataProcessing API references, batch-transform.html)."""

from __future__ import annotations

from typing import Any

import pytest

from local.pipeline.transform_job import TransformError, mini_batches, select, transform_object


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


def test_multi_record_batches_fill_up_to_the_payload_limit_in_order() -> None:
    records = ["aaaa", "bbbb", "cccc"]
    assert mini_batches(records, 9) == [["aaaa", "bbbb"], ["cccc"]]  # "aaaa\nbbbb": 9 bytes
    assert mini_batches(records, 8) == [["aaaa"], ["bbbb"], ["cccc"]]
    # "Exceeding the MaxPayloadInMB limit causes an error ... individual records ... exceed".
    with pytest.raises(TransformError, match="exceeds MaxPayloadInMB"):
        mini_batches(["a" * 10], 9)


class _Reply:
    def __init__(self, status: int, body: str) -> None:
        self.status, self._body = status, body

    def read(self) -> bytes:
        return self._body.encode()


class _Model:
    """A container that answers each CSV record with the sum of its fields."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[str] = []

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        assert (method, path) == ("POST", "/invocations")
        self.bodies.append(body.decode())

    def getresponse(self) -> _Reply:
        lines = self.bodies[-1].split("\n")
        return _Reply(self.status, "\n".join(str(sum(map(int, r.split(",")))) for r in lines))


def _request(**processing: str) -> dict[str, Any]:
    return {
        "TransformInput": {"ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"Accept": "text/csv", "AssembleWith": "Line"},
        "MaxPayloadInMB": 6,
        "DataProcessing": processing,
    }


def test_the_joined_line_is_the_input_followed_by_the_answer() -> None:
    # "if the record is [1,2,3], and the label result is [1], then the output file would
    # contain [1,2,3,1]" (here the container answers 6, the sum).
    model: Any = _Model()
    assert transform_object(model, "1,2,3\n", _request(JoinSource="Input")) == ["1,2,3,6"]
    keyed = _request(InputFilter="$[1:]", JoinSource="Input", OutputFilter="$[0,-1]")
    out = transform_object(model, "k1,1,2\nk2,3,4\n\n", keyed)
    assert out == ["k1,3", "k2,7"]  # the key never reached the container
    assert model.bodies[-1] == "1,2\n3,4"  # both records in one request, in order


def test_a_rejected_request_fails_the_object() -> None:
    with pytest.raises(TransformError, match="answered 400"):
        transform_object(_Model(status=400), "1,2\n", _request())  # type: ignore[arg-type]
