"""A fuzz corpus against the local endpoint over HTTP: the image's serving stack, two
gevent workers, behind the service front.

Every class of client fault (content type, accept, size, parse, width, type, range,
empty bodies, NaN/Inf, huge numbers, nested JSON, wrong JSON types, 7 MB bodies,
invalid UTF-8, broken chunked encoding) must get a 4xx: no 5xx, no dropped connection.
The valid requests in the corpus must score exactly as transform_fn does in-process.
"""

from __future__ import annotations

import dataclasses
import json
import random
import socket
from collections import Counter

import pytest

from config.schema import FeatureType, load_schema
from inference.inference import model_fn, transform_fn
from local.lake.synthetic import generate_clean
from local.moto_platform import local_platform
from local.serving.load_client import Request, Response, send_all
from local.serving.serving import start_endpoint
from tests.contract.conftest import stage
from training.preprocess import raw_feature_frame

CSV, JSON, JSONL = "text/csv", "application/json", "application/jsonlines"
SEVEN_MB = 7 * 1024 * 1024


def _corpus(seed: int = 11) -> list[tuple[str, Request]]:
    """(class, request) pairs, deterministic: about 900 requests."""
    schema = load_schema("churn")
    frame = raw_feature_frame(schema, generate_clean(schema, 300, seed=seed))
    lines = frame.to_csv(header=False, index=False).splitlines()
    records = json.loads(frame.to_json(orient="records"))
    rng = random.Random(seed)
    numeric = [i for i, f in enumerate(schema.features) if f.type is FeatureType.NUMERIC]
    categorical = [i for i, f in enumerate(schema.features) if f.type is FeatureType.CATEGORICAL]
    corpus: list[tuple[str, Request]] = []

    def add(kind: str, body: bytes | str, content_type: str = CSV, accept: str = CSV) -> None:
        data = body.encode() if isinstance(body, str) else body
        corpus.append((kind, Request(data, content_type, accept)))

    def with_field(line: str, index: int, value: str) -> str:
        fields = line.split(",")
        fields[index] = value
        return ",".join(fields)

    for line in lines[:200]:
        add("valid_csv", line)
    for record in records[200:260]:
        add("valid_json", json.dumps({"instances": [record]}), JSON, JSON)
    for size in (10, 50, 100, 300):
        add("valid_batch", "\n".join(lines[:size]))
    # Batches for the plain-CSV path (features/plain_csv.py, pyarrow), in forms it
    # leaves to the rules (which accept them) and with one faulty cell (a 4xx).
    for start in range(0, 200, 25):
        batch = lines[start : start + 40]
        at, index = rng.randrange(len(batch)), rng.choice(numeric)
        fields = batch[at].split(",")
        add("valid_batch_forms", "\r\n".join(batch))
        add(
            "valid_batch_forms",
            "\n".join(
                [
                    *batch[:at],
                    with_field(batch[at], index, f" {fields[index]} "),
                    *batch[at + 1 :],
                ]
            ),
        )
        add(
            "valid_batch_forms",
            "\n".join(
                [*batch[:at], with_field(batch[at], index, f'"{fields[index]}"'), *batch[at + 1 :]]
            ),
        )
        fault = rng.choice(["abc", "1_0", "nan", "inf", "1e12", "9" * 400])
        add(
            "batch_fault",
            "\n".join([*batch[:at], with_field(batch[at], index, fault), *batch[at + 1 :]]),
        )
        add("batch_fault", "\n".join([*batch[:at], batch[at] + ",extra", *batch[at + 1 :]]))
        add(
            "batch_fault",
            "\n".join(
                [
                    *batch[:at],
                    with_field(batch[at], rng.choice(categorical), "DSL"),
                    *batch[at + 1 :],
                ]
            ),
        )
    for line in lines[:40]:
        add("content_type", line, rng.choice(["text/plain", "application/xml", "", "csv"]))
        add("accept", line, CSV, rng.choice(["application/xml", "text/html", "image/png"]))
    for line in lines[:60]:
        cut = rng.randrange(1, len(line.split(",")))
        add("width", ",".join(line.split(",")[:cut]))
        add("width", line + ",extra")
    for line in lines[:60]:
        index = rng.choice(numeric)
        add("type", with_field(line, index, rng.choice(["abc", "1_0", "0x10", "1.2.3", "--1"])))
        add("range", with_field(line, index, rng.choice(["-1e6", "1e12"])))
        add("nan_inf", with_field(line, index, rng.choice(["nan", "NaN", "inf", "-Infinity"])))
        add("huge", with_field(line, index, "9" * rng.choice([400, 5000])))
        add("category", with_field(line, rng.choice(categorical), "no-such\u2028value"))
    for record in records[:40]:
        name = schema.features[rng.choice(numeric)].name
        for value in (True, "x", [1], {"a": 1}, None):
            add("json_types", json.dumps({"instances": [{**record, name: value}]}), JSON)
        add("json_nan", json.dumps({"instances": [{**record, name: float("nan")}]}), JSON)
        add(
            "json_huge",
            json.dumps({"instances": [record]}).replace(
                json.dumps(record[name]), "9" * rng.choice([400, 5000]), 1
            ),
            JSON,
        )
        add("nested", "[" * rng.choice([10, 5000, 100_000]), rng.choice([JSON, JSONL]))
    for _ in range(30):
        add("empty", rng.choice(["", " ", "\n\n", "\r\n"]), rng.choice([CSV, JSON, JSONL]))
        add("utf8", bytes(rng.randrange(128, 256) for _ in range(20)), rng.choice([CSV, JSONL]))
        add("parse", rng.choice(['{"instances": [', "{]", '"a,"b"', '{"instances": 3}']), JSON)
    for _ in range(3):
        add("too_large", b"1," * (SEVEN_MB // 2), CSV)
    return corpus


BROKEN_CHUNKS = [
    b"zz\r\n1,2\r\n0\r\n\r\n",  # a chunk size that is not hexadecimal
    b"5\r\n1,2\r\n0\r\n\r\n",  # a chunk shorter than its size, then the terminator
    b"3\r\n1,2XX0\r\n\r\n",  # no CRLF after the chunk
    b"3;" + b"x" * 9000 + b"\r\n1,2\r\n0\r\n\r\n",  # an absurd chunk extension
]


def _raw_chunked(host: str, port: int, body: bytes) -> int:
    """POST a hand-made chunked body; the status line's code (0 if dropped)."""
    with socket.create_connection((host, port), timeout=15) as connection:
        connection.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: local\r\nContent-Type: text/csv\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body
        )
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.fixture(scope="module")
def answers(model_run, registered_environment, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    staged = stage(model_run["model_dir"], registered_environment, work)
    corpus = _corpus()
    with (
        local_platform() as platform,
        start_endpoint(staged, platform.env, workers=2, log=work / "endpoint.log") as endpoint,
    ):
        responses = send_all(endpoint.host, endpoint.port, [r for _, r in corpus])
        chunked = [_raw_chunked(endpoint.host, endpoint.port, b) for b in BROKEN_CHUNKS * 5]
    return corpus, responses, chunked


def test_the_corpus_is_large_and_covers_every_class(answers) -> None:
    corpus, _, chunked = answers
    assert len(corpus) + len(chunked) >= 800
    classes = Counter(kind for kind, _ in corpus)
    assert min(classes.values()) >= 3, classes


def test_no_server_errors_and_no_dropped_connections(answers) -> None:
    corpus, responses, chunked = answers
    statuses = Counter((kind, r.status) for (kind, _), r in zip(corpus, responses, strict=True))
    bad = {key: n for key, n in statuses.items() if key[1] >= 500 or key[1] == 0}
    assert not bad, bad
    assert all(400 <= status < 500 for status in chunked), chunked


def test_every_fault_is_a_4xx_with_a_message(answers) -> None:
    corpus, responses, _ = answers
    for (kind, request), response in zip(corpus, responses, strict=True):
        if kind.startswith("valid"):
            continue
        if kind == "json_types" and b"null" in request.body:
            continue  # null is "missing": the optional features accept it
        assert 400 <= response.status < 500, (kind, request.body[:200], response.status)
        assert response.body, kind


def test_valid_rows_score_as_in_process(answers, model_run) -> None:
    corpus, responses, _ = answers
    model = model_fn(str(model_run["model_dir"]))
    by_rules = dataclasses.replace(model, plain_csv=None)  # the plain-CSV path off
    pairs: list[tuple[Request, Response]] = [
        (request, response)
        for (kind, request), response in zip(corpus, responses, strict=True)
        if kind.startswith("valid")
    ]
    assert len(pairs) == 288
    for request, response in pairs:
        expected = transform_fn(model, request.body, request.content_type, request.accept)
        assert (
            transform_fn(by_rules, request.body, request.content_type, request.accept) == expected
        )
        assert response.status == 200
        assert response.content_type == expected.content_type
        assert response.body == expected.body
