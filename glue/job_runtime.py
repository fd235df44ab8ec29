"""What differs between AWS Glue and a laptop, kept in one place.

The job scripts are plain PySpark. On Glue (``awsglue`` importable) this module gives
them Glue's argument parsing, the Glue job lifecycle (``init``/``commit``, which moves
job bookmarks) and bookmark-driven discovery of new input files. Locally it gives a
``local[*]`` Spark session and ``--name value`` arguments. The data logic never branches
on where it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pyspark.sql import SparkSession

from config.metrics import DATA_LAKE_NAMESPACE
from config.schema import DatasetSchema

LOG = logging.getLogger("glue")

# Settings the jobs rely on wherever they run: UTC timestamps, and Parquet timestamps in
# the standard INT64 micros form (Spark's INT96 default is legacy and trips other readers).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


def local_spark(app_name: str = "mlops-local", cores: str = "*") -> SparkSession:
    """A local Spark session configured like the Glue 5.0 jobs expect."""
    # The JVM picks its address before any setting is read: keep it on loopback.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (the validating pass runs in them) import the project's packages,
    # as Glue's workers do from --extra-py-files; they inherit this at session start.
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    if root not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, path) if p)
    # ... and run this interpreter (with numpy and pyarrow), not whatever "python3" is.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        # Loopback only: a local run never listens on, or resolves, an outside address.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Glue sizes shuffles with AQE on a cluster; on a laptop Spark's 200 tiny tasks per
        # shuffle are pure overhead, and so is more than one per core (8 tasks on 2 cores:
        # the ETL integration tests took 33 s, against 27 s with one per core).
        .config("spark.sql.shuffle.partitions", str(_core_count(cores)))
        .config("spark.driver.memory", "4g")
        # A local job lives seconds to minutes: the C2 JIT compiler and the parallel GC
        # spend more CPU than they give back in that time (measured on the former iris files'
        # two Glue jobs: 40% less CPU in all with C1 only and the serial collector).
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
    )
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _core_count(cores: str) -> int:
    """The cores a ``local[cores]`` session runs on."""
    return (os.cpu_count() or 1) if cores == "*" else int(cores)


def read_schema(spark: SparkSession, uri: str) -> DatasetSchema:
    """Read the dataset schema JSON from a local path or an S3 URI, through Spark's own IO."""
    text = "".join(row.value for row in spark.read.text(uri, wholetext=True).collect())
    return DatasetSchema.from_json(text)


class GlueJob:
    """The job lifecycle: arguments, Spark session, bookmarks. Use as a context manager."""

    def __init__(
        self,
        argv: Sequence[str],
        names: Sequence[str],
        optional: Mapping[str, str] | None = None,
    ) -> None:
        """``names`` are required job arguments; ``optional`` maps others to their defaults."""
        optional = dict(optional or {})
        self._glue_context: Any = None
        self._job: Any = None
        self.run_id = _run_id(argv)
        try:
            from awsglue.context import GlueContext
            from awsglue.job import Job
            from awsglue.utils import getResolvedOptions
        except ImportError:
            self.args = {**optional, **_parse_local_args(argv, names, optional)}
            self.spark = local_spark(self.args.get("JOB_NAME") or "mlops-local")
            return
        from pyspark.context import SparkContext

        # getResolvedOptions fails on a name it is given but argv lacks: ask only for the
        # optional ones present.
        given = [name for name in optional if f"--{name}" in argv]
        self.args = {**optional, **getResolvedOptions(list(argv), ["JOB_NAME", *names, *given])}
        self._glue_context = GlueContext(SparkContext.getOrCreate())
        self.spark = self._glue_context.spark_session
        for key, value in SESSION_CONF.items():
            self.spark.conf.set(key, value)
        self._job = Job(self._glue_context)
        self._job.init(self.args["JOB_NAME"], self.args)

    def publish_counts(self, job_name: str, counts: dict[str, Any]) -> int:
        """Publish the run's counts as CloudWatch metrics (see ``publish_counts``)."""
        return publish_counts(job_name, counts, metrics_client(self._glue_context is not None))

    def new_files(self, path: str) -> list[str] | None:
        """Input files the job bookmark has not seen yet; ``None`` means "read all of ``path``".

        Bookmarks only track Glue DynamicFrame sources, so on Glue bookmarked sources
        list the new files and the job's own reader (the same one used locally) parses
        exactly those. A source parses what it lists, so there is one per reader format,
        each excluding the other's files (S3 glob patterns).
        """
        if self._glue_context is None:
            return None
        found: set[str] = set()
        sources: tuple[tuple[str, list[str], dict[str, Any], str], ...] = (
            ("csv", ["**.json", "**.jsonl"], {"withHeader": True}, "raw_source_files"),
            ("json", ["**.csv"], {}, "raw_json_source_files"),
        )
        for fmt, exclusions, options, context in sources:
            frame = self._glue_context.create_dynamic_frame.from_options(
                connection_type="s3",
                connection_options={
                    "paths": [path],
                    "recurse": True,
                    "exclusions": json.dumps(exclusions),
                },
                format=fmt,
                format_options={"attachFilename": "etl_source_file", **options},
                transformation_ctx=context,
            )
            rows = frame.toDF()
            if "etl_source_file" in rows.columns:  # nothing new: the frame has no columns
                found.update(
                    row.etl_source_file
                    for row in rows.select("etl_source_file").distinct().collect()
                )
        return sorted(found)

    def __enter__(self) -> GlueJob:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Commit only on success, so a failed run's input is offered again next time.
        if exc_type is None and self._job is not None:
            self._job.commit()


def _run_id(argv: Sequence[str]) -> str:
    """Glue passes ``--JOB_RUN_ID <id>``; a local run gets a UTC timestamp instead."""
    for flag, value in zip(argv, list(argv)[1:], strict=False):
        if flag == "--JOB_RUN_ID":
            return value
    return "local-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _parse_local_args(
    argv: Sequence[str], names: Sequence[str], optional: Mapping[str, str]
) -> dict[str, str]:
    parser = argparse.ArgumentParser(description="Run a Glue job script on local Spark.")
    parser.add_argument("--JOB_NAME", default="")
    for name in names:
        parser.add_argument(f"--{name}", required=True)
    for name in optional:
        parser.add_argument(f"--{name}")
    return {k: v for k, v in vars(parser.parse_args(list(argv)[1:])).items() if v is not None}


def log_counts(job_name: str, counts: dict[str, Any]) -> None:
    """One JSON line a log query (CloudWatch Insights) can parse."""
    LOG.warning("%s", json.dumps({"job": job_name, **counts}, sort_keys=True))


def count_metrics(job_name: str, counts: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudWatch MetricData for one run's counts (namespace ``MLOps/DataLake``).

    RowsRead/RowsValid/DuplicatesDropped/RowsQuarantined per job, and RowsQuarantined per
    job and reason, so the dashboard shows why rows were rejected, not only how many.
    One datapoint per run: the sample count is the number of runs.
    """
    job = [{"Name": "Job", "Value": job_name}]
    data = [
        {"MetricName": name, "Dimensions": job, "Value": float(counts[key]), "Unit": "Count"}
        for name, key in (
            ("RowsRead", "input_rows"),
            ("RowsValid", "valid_rows"),
            ("DuplicatesDropped", "duplicates_dropped"),
            ("RowsQuarantined", "quarantined_rows"),
        )
        if key in counts
    ]
    for reason, rows in sorted(counts.get("quarantined_by_reason", {}).items()):
        data.append(
            {
                "MetricName": "RowsQuarantined",
                "Dimensions": [*job, {"Name": "Reason", "Value": reason}],
                "Value": float(rows),
                "Unit": "Count",
            }
        )
    return data


def publish_counts(job_name: str, counts: dict[str, Any], cloudwatch: Any | None) -> int:
    """Put one run's count metrics; returns how many datapoints were sent.

    ``cloudwatch`` is None where there is nowhere to publish (a local run without the
    moto server): the counts are still logged, and nothing leaves the machine.
    """
    if cloudwatch is None:
        return 0
    data = count_metrics(job_name, counts)
    for start in range(0, len(data), 20):  # stay well under PutMetricData's batch limit
        cloudwatch.put_metric_data(
            Namespace=DATA_LAKE_NAMESPACE, MetricData=data[start : start + 20]
        )
    return len(data)


def metrics_client(on_glue: bool) -> Any | None:
    """A CloudWatch client on Glue, or locally when AWS_ENDPOINT_URL names a stand-in."""
    if not on_glue and not os.environ.get("AWS_ENDPOINT_URL"):
        return None
    import boto3

    return boto3.client("cloudwatch")
