"""Every capture format parses to the same rows; bad lines are counted, not fatal."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from local.serving.image.data_capture import capture_record
from monitoring.analyzer import WindowAnalyzer
from monitoring.capture import CaptureChunk, parse_lines, parse_record

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROW = ["12", "70.5", "", "1", "45", "one-year", "dsl", "credit-card", "true", "false"]


def line(request_type: str, body: str, response: str = "0.25,0\n", event_id: str = "e1") -> str:
    record = capture_record(
        request_type=request_type,
        request=body.encode(),
        response_type="text/csv",
        response=response.encode(),
        at=AT,
        event_id=event_id,
    )
    return json.dumps(record, separators=(",", ":"))


def test_csv_json_jsonlines_and_base64_give_the_same_row(schema) -> None:
    names = schema.feature_names
    as_object = {n: (v if v != "" else None) for n, v in zip(names, ROW, strict=True)}
    bodies = [
        line("text/csv", ",".join(ROW)),
        line("application/json", json.dumps({"instances": [ROW]})),
        line("application/json", json.dumps({"instances": [as_object]})),
        line("application/jsonlines", json.dumps(as_object) + "\n"),
        line("application/x-custom", ",".join(ROW)),  # not text: captured as BASE64
    ]
    record = json.loads(bodies[-1])
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    record["captureData"]["endpointInput"]["observedContentType"] = "text/csv"
    bodies[-1] = json.dumps(record)
    chunk = parse_lines(bodies, names)
    assert chunk.malformed == {}
    assert len(chunk.rows) == 5
    normalised = [
        (row.split(",") if isinstance(row, str) else ["" if v is None else str(v) for v in row])
        for row in chunk.rows
    ]
    assert all(r == ROW for r in normalised)
    assert chunk.scores == [0.25] * 5
    assert chunk.times == ["2026-03-01T12:00:00Z"] * 5


def test_the_fast_path_agrees_with_the_json_parse(schema) -> None:
    text = line("text/csv", ",".join(ROW) + "\n", response="0.75,1\n", event_id="ev-9")
    fast = parse_lines([text], schema.feature_names)
    general = CaptureChunk()
    parse_record(text, schema.feature_names, general)
    assert isinstance(fast.rows[0], str)  # took the fast path
    assert fast.rows[0].split(",") == list(general.rows[0])
    assert (fast.event_ids, fast.scores, fast.times) == (
        general.event_ids,
        general.scores,
        general.times,
    )


def test_a_multi_row_request_keeps_every_row_and_its_position(schema) -> None:
    body = ",".join(ROW) + "\n" + ",".join(ROW) + "\n"
    chunk = parse_lines([line("text/csv", body, response="0.1,0\n0.9,1\n")], schema.feature_names)
    assert chunk.positions == [0, 1] and chunk.sizes == [2, 2]
    assert chunk.scores == [0.1, 0.9]


def test_malformed_lines_are_counted_by_reason_not_fatal(schema, baseline) -> None:
    good = line("text/csv", ",".join(ROW))
    no_event = json.loads(good)
    del no_event["eventMetadata"]["eventId"]
    bad_base64 = json.loads(good)
    bad_base64["captureData"]["endpointInput"].update(encoding="BASE64", data="%%%")
    lines = [
        good,
        "{not json",
        json.dumps(no_event),
        json.dumps(bad_base64),
        line("application/json", '{"rows": []}'),
        line("text/csv", ",".join(ROW[:4])),  # too few columns
        line("text/csv", ",".join([*ROW, "x"])),  # too many
        line("text/csv", "12,seventy,,1,45,gold,dsl,credit-card,perhaps,false"),
        "",
    ]
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline)
    analyzer.consume(lines)
    assert analyzer.malformed == {
        "not_json": 1,
        "missing_event_id": 1,
        "input_bad_base64": 1,
        "input_json_without_instances": 1,
    }
    assert (analyzer.short_rows, analyzer.long_rows, analyzer.rows) == (1, 1, 2)
    assert analyzer.records == 8
    monthly = analyzer.states["monthly_charges"]
    contract = analyzer.states["contract"]
    assert monthly.invalid == 1  # type: ignore[union-attr]
    assert contract.unknown == {"gold": 1}  # type: ignore[union-attr]
    assert analyzer.states["paperless_billing"].unknown == {"perhaps": 1}  # type: ignore[union-attr]


def test_base64_payloads_decode(schema) -> None:
    record = json.loads(line("text/csv", ",".join(ROW)))
    record["captureData"]["endpointInput"].update(
        encoding="BASE64", data=base64.b64encode(",".join(ROW).encode()).decode()
    )
    chunk = parse_lines([json.dumps(record)], schema.feature_names)
    assert list(chunk.rows[0]) == ROW
