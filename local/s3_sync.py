"""Stage S3 data down to a folder and back up, as SageMaker does around a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def split_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/prefix") of an ``s3://`` URI; anything else is an error."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def object_keys(s3: Any, uri: str) -> list[str]:
    """The keys of every object under ``uri`` (folder markers left out), in key order."""
    bucket, prefix = split_uri(uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(
        item["Key"]
        for page in pages
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    )


def download_prefix(s3: Any, uri: str, destination: Path) -> int:
    """Copy every object under ``uri`` into ``destination``, keeping relative paths.

    Like an ``S3Prefix`` input: an object whose key equals the prefix lands under its
    own file name. Returns the number of files.
    """
    bucket, prefix = split_uri(uri)
    destination.mkdir(parents=True, exist_ok=True)
    count = 0
    for key in object_keys(s3, uri):
        relative = key[len(prefix) :].lstrip("/") or Path(key).name
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        count += 1
    if count == 0:
        raise FileNotFoundError(f"no objects under {uri}")
    return count


def upload_dir(s3: Any, source: Path, uri: str) -> int:
    """Upload every file under ``source`` to ``uri``; returns the number of files."""
    bucket, prefix = split_uri(uri)
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = "/".join(
            part for part in (prefix.rstrip("/"), path.relative_to(source).as_posix()) if part
        )
        s3.upload_file(str(path), bucket, key)
        count += 1
    return count
