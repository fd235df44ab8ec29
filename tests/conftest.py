"""Shared fixtures. No test may need AWS credentials or the network."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(name, None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session for the whole run (starting one costs seconds)."""
    from glue.job_runtime import local_spark

    session = local_spark("tests", cores="2")
    yield session
    session.stop()
