"""The few S3 operations the monitor and its launcher need, with plain boto3
(AWS_ENDPOINT_URL honoured)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    last_modified: datetime
    size: int


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an ``s3://`` URI; a clear error for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
    return parsed.netloc, parsed.path.lstrip("/")


def list_objects(s3: Any, uri: str, suffix: str = ".jsonl") -> list[S3Object]:
    """Every object under the prefix whose key ends with ``suffix``."""
    bucket, prefix = split_uri(uri)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                found.append(S3Object(bucket, item["Key"], item["LastModified"], item["Size"]))
    return found


def read_lines(s3: Any, obj: S3Object) -> Iterator[bytes]:
    """The object's lines, streamed: never the whole object in memory."""
    body = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"]
    try:
        yield from body.iter_lines(chunk_size=READ_CHUNK_BYTES)
    finally:
        body.close()


def get_json(s3: Any, uri: str) -> Any:
    bucket, key = split_uri(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def get_json_or_none(s3: Any, uri: str) -> Any:
    """The JSON document at ``uri``, or None when there is no such object yet."""
    bucket, key = split_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def put_json(s3: Any, uri: str, document: Any) -> None:
    bucket, key = split_uri(uri)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=2).encode(),
        ContentType="application/json",
    )


def put_file(s3: Any, path: Path, uri: str) -> None:
    bucket, key = split_uri(uri)
    s3.upload_file(str(path), bucket, key)
