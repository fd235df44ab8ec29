"""The path a record without an id is keyed by: its file below the job's input path."""

from __future__ import annotations

import pytest

from glue.annotate import relative_path


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        # Spark names local files with a scheme; the job's argument is a bare path.
        ("file:///tmp/a/lake/raw/incoming/x.csv", "/tmp/a/lake/raw", "incoming/x.csv"),
        ("file:/tmp/a/lake/raw/incoming/x.csv", "/tmp/a/lake/raw/", "incoming/x.csv"),
        ("file:/tmp/b/lake/raw/incoming/x.csv", "file:///tmp/b/lake/raw", "incoming/x.csv"),
        # S3: the bucket is left out, the prefix is the zone.
        ("s3://lake-raw-123/raw/2024/x.jsonl", "s3://lake-raw-123/raw/", "2024/x.jsonl"),
        ("s3://other-bucket/raw/2024/x.jsonl", "s3://lake-raw-123/raw", "2024/x.jsonl"),
        # A file given on its own is named by its name.
        ("file:/tmp/a/batch/people.csv", "/tmp/a/batch/people.csv", "people.csv"),
        # A sibling that shares the root's text is not below it: the whole path is kept.
        ("file:/tmp/a/raw2/x.csv", "/tmp/a/raw", "file:/tmp/a/raw2/x.csv"),
    ],
)
def test_relative_path(path: str, root: str, expected: str) -> None:
    assert relative_path(path, root) == expected


def test_the_same_file_under_two_lakes_has_one_name() -> None:
    first = relative_path(
        "file:/tmp/pytest-1/run/lake/raw/incoming/t.csv", "/tmp/pytest-1/run/lake/raw"
    )
    second = relative_path("file:/check/run/lake/raw/incoming/t.csv", "/check/run/lake/raw")
    assert first == second == "incoming/t.csv"
