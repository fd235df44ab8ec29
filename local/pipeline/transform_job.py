"""A batch transform job, run locally as SageMaker documents it (LOCAL stand-in).

The model's container is the endpoint's: the model's package staged and served by the
image's own stack (``local.serving.serving.start_endpoint``, the service front with its
6 MB request limit in front, network isolated when the model is). What the batch
transform service does around the container is written here, from its documentation:

* each object under the input prefix is processed on its own; ``SplitType=Line`` splits
  it into records; ``BatchStrategy=MultiRecord`` sends "the maximum number of records in
  each request, up to the MaxPayloadInMB limit", and a record larger than the limit is
  an error (batch-transform.html, API_CreateTransformJob);
* ``DataProcessing``: ``InputFilter`` selects what reaches the model; with
  ``JoinSource=Input`` a CSV output line is "the original input data followed by the
  transformed data"; ``OutputFilter`` selects from that joined line. For CSV, "each row
  is taken as a JSON array, so only index based JSONPaths can be applied"
  (batch-transform-data-processing.html);
* ``AssembleWith=Line``: one record per line; the output object is the input object's
  name with ``.out`` under ``S3OutputPath``, in the input's record order; an object with
  a bad record gets no output, and the job fails (batch-transform.html).

Not reproduced, and refused rather than run as something else (``check_request``): JSON
input, compression, ``AssembleWith=None``, and closed slices such as ``$[1:4]`` (the
documentation says both that the end is inclusive and that the operator is JavaScript's
``slice()``). Not reproduced: several instances or concurrent transforms (one instance,
one request at a time, as the definition asks) and ``ModelClientConfig``'s retries (a
request the model refuses fails the job at once; the timeout is its default, 600 s).
"""

from __future__ import annotations

import csv
import http.client
import io
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from local.pipeline.sagemaker_jobs import JobRun
from local.s3_sync import object_keys, split_uri
from local.serving.hosted_model import stage_model_package
from local.serving.serving import start_endpoint

MB = 1024 * 1024
# ModelClientConfig's default InvocationsTimeoutInSeconds (API_ModelClientConfig).
INVOCATION_TIMEOUT = 600
INDEX_PATH = re.compile(r"\$\[([^\]]+)\]")


class TransformError(RuntimeError):
    """The job fails: a record, a request or the definition is not what it needs."""


def select(path: str, fields: list[str]) -> list[str]:
    """The fields of one CSV record that JSONPath ``path`` selects: ``$``, or indexes and
    open slices in brackets (``$[1:]``, ``$[0,5:]``, ``$[-1]``), in the order written."""
    if path == "$":
        return list(fields)
    found = INDEX_PATH.fullmatch(path.replace(" ", ""))
    if not found:
        raise TransformError(f"{path!r}: a CSV record takes only index JSONPaths, e.g. $[1:]")
    chosen: list[str] = []
    for part in found.group(1).split(","):
        start, colon, end = part.partition(":")
        if colon and end:
            raise TransformError(
                f"{path!r}: closed slices are not run locally (their end is ambiguous in "
                "the documentation)"
            )
        try:
            index = int(start or 0)
        except ValueError:
            raise TransformError(f"{path!r}: {part!r} is not an index or a slice") from None
        # An open slice may start just past the last field (it selects nothing).
        if not -len(fields) <= index < len(fields) + bool(colon):
            raise TransformError(f"{path!r}: index {index} outside a {len(fields)}-field record")
        chosen += fields[index:] if colon else [fields[index]]
    return chosen


def _fields(line: str) -> list[str]:
    return next(csv.reader([line]))


def _line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def split_records(text: str) -> list[str]:
    """``SplitType=Line``: the records of a text, split at ``\n`` only (as the serving
    code splits a body; ``str.splitlines`` would also split at U+2028 and the like)."""
    return [line.removesuffix("\r") for line in text.split("\n") if line.strip()]


def mini_batches(records: list[str], max_bytes: int, *, multi: bool = True) -> list[list[str]]:
    """Records in order, per request as many as fit in ``max_bytes`` (newline-joined)
    with ``MultiRecord`` (``multi``), else one."""
    batches: list[list[str]] = []
    size = 0
    for record in records:
        length = len(record.encode()) + 1
        if length - 1 > max_bytes:
            raise TransformError(f"a record of {length - 1} bytes exceeds MaxPayloadInMB")
        if multi and batches and size + length <= max_bytes + 1:
            batches[-1].append(record)
            size += length
        else:
            batches.append([record])
            size = length
    return batches


Invoke = Callable[[str, str, str], str]  # (body, content type, accept) -> answer


def _invoker(host: str, port: int) -> Invoke:
    """POST each mini-batch on a connection of its own (closed after it), so a server that
    closes an idle keep-alive connection between objects never fails a request."""

    def invoke(body: str, content_type: str, accept: str) -> str:
        connection = http.client.HTTPConnection(host, port, timeout=INVOCATION_TIMEOUT)
        try:
            headers = {"Content-Type": content_type, "Accept": accept}
            connection.request("POST", "/invocations", body=body.encode(), headers=headers)
            reply = connection.getresponse()
            text = reply.read().decode()
        finally:
            connection.close()
        if reply.status != 200:
            raise TransformError(f"the model answered {reply.status}: {text[:500]}")
        return text

    return invoke


def check_request(arguments: Mapping[str, Any]) -> None:
    """Refuse what this stand-in does not run, rather than run it as something else."""
    source, output = arguments["TransformInput"], arguments["TransformOutput"]
    supported = {
        "TransformInput.SplitType": (source.get("SplitType"), {"Line"}),
        "TransformInput.ContentType": (source.get("ContentType"), {"text/csv"}),
        "TransformInput.CompressionType": (source.get("CompressionType", "None"), {"None"}),
        "TransformOutput.AssembleWith": (output.get("AssembleWith"), {"Line"}),
        "BatchStrategy": (arguments.get("BatchStrategy"), {"MultiRecord", "SingleRecord"}),
        "DataProcessing.JoinSource": (
            arguments.get("DataProcessing", {}).get("JoinSource", "None"),
            {"None", "Input"},
        ),
    }
    for name, (value, allowed) in supported.items():
        if value not in allowed:
            raise TransformError(f"{name}={value!r} is not run locally (only {sorted(allowed)})")


def transform_object(invoke: Invoke, text: str, arguments: Mapping[str, Any]) -> list[str]:
    """One input object's output lines, as the request's data processing makes them."""
    source = arguments["TransformInput"]
    processing = arguments.get("DataProcessing", {})
    records = split_records(text)
    sent = [_line(select(processing.get("InputFilter", "$"), _fields(r))) for r in records]
    if any(not record for record in sent):
        raise TransformError("the InputFilter leaves a record empty")
    accept = arguments["TransformOutput"].get("Accept", source["ContentType"])
    multi = arguments.get("BatchStrategy") == "MultiRecord"
    answers: list[str] = []
    for batch in mini_batches(sent, int(arguments.get("MaxPayloadInMB", 6)) * MB, multi=multi):
        answered = invoke("\n".join(batch), source["ContentType"], accept)
        lines = answered.rstrip("\n").split("\n")
        if len(lines) != len(batch):
            raise TransformError(f"{len(batch)} records sent, {len(lines)} answers")
        answers += lines
    joined = processing.get("JoinSource", "None") == "Input"
    out = []
    for record, answer in zip(records, answers, strict=True):
        fields = [*_fields(record), *_fields(answer)] if joined else _fields(answer)
        out.append(_line(select(processing.get("OutputFilter", "$"), fields)))
    return out


def run_transform_job(
    arguments: dict[str, Any],
    *,
    model: Mapping[str, Any],
    job_name: str,
    work_dir: Path,
    s3: Any,
    sagemaker: Any,
    env: Mapping[str, str],
) -> JobRun:
    """Run a ``CreateTransformJob`` request locally with ``model`` (the ``CreateModel``
    request of its ``ModelName``: a package's container); returns its Describe response."""
    started = time.monotonic()
    check_request(arguments)
    package = model["PrimaryContainer"]["ModelPackageName"]
    staged = stage_model_package(sagemaker, s3, package, work_dir / job_name)
    prefix = arguments["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, key_prefix = split_uri(prefix)
    keys = object_keys(s3, prefix)
    out_bucket, out_prefix = split_uri(arguments["TransformOutput"]["S3OutputPath"])
    records = 0
    with start_endpoint(
        staged,
        env,
        workers=1,
        log=work_dir / job_name / "container.log",
        isolated=bool(model.get("EnableNetworkIsolation")),
    ) as endpoint:
        invoke = _invoker(endpoint.host, endpoint.port)
        for key in keys:
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            lines = transform_object(invoke, text, arguments)
            name = key[len(key_prefix) :].lstrip("/")
            s3.put_object(
                Bucket=out_bucket,
                Key=f"{out_prefix.rstrip('/')}/{name}.out",
                Body=("\n".join(lines) + "\n").encode(),
            )
            records += len(lines)
        runtime = endpoint.runtime
    describe = {
        **arguments,
        "TransformJobName": job_name,
        "TransformJobStatus": "Completed",
        "ModelPackageName": package,
    }
    counts = {"objects": float(len(keys)), "records": float(records)}
    log = f"{len(keys)} object(s), {records} records"
    return JobRun(job_name, describe, time.monotonic() - started, log, counts, runtime)
