"""Run a processing or training job locally, the way SageMaker's containers run it.

Each job is a container of the XGBoost image (``local/image/container.py``): its own
``/opt/ml``, the image's Python stack, the environment its request declares plus what
SageMaker sets, and no network when the request isolates it. Inputs are staged into
``/opt/ml`` before the container starts and outputs uploaded after it exits 0, as the
service does:

* processing: the job's ``ContainerEntrypoint`` + ``ContainerArguments``, as written;
* training: the image's ``train`` command (sagemaker-containers' trainer): it reads
  ``input/config/*.json``, downloads and ``pip install``s ``sagemaker_submit_directory``
  and runs ``sagemaker_program`` with the hyperparameters as arguments.

A failed job reports what the container wrote for SageMaker: ``/opt/ml/output/failure``
(training, ``FailureReason``) or ``/opt/ml/output/message`` (processing, ``ExitMessage``).
"""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.image.container import COMMANDS_DIR, Container, host_path, run
from local.s3_sync import download_prefix, split_uri, upload_dir

CONTAINER_ROOT = "/opt/ml/"
LOG_TAIL_LINES = 20
# The image's `train` command (sagemaker-containers' trainer), as the stand-in runs it.
TRAIN_COMMAND = ["python3", f"{COMMANDS_DIR}/xgboost_image.py", "train"]


class JobFailedError(RuntimeError):
    """The job's entry point exited non-zero; the message holds its reason and log tail."""

    def __init__(self, job_name: str, returncode: int, log_tail: str, reason: str = "") -> None:
        super().__init__(f"{job_name} exited with {returncode}: {reason or log_tail}")
        self.log_tail = log_tail
        self.reason = reason


@dataclass
class JobRun:
    """What a finished job reports: its Describe* response, duration and log tail."""

    name: str
    describe: dict[str, Any]
    seconds: float
    log_tail: str
    metrics: dict[str, float] = field(default_factory=dict)
    # What the container's Python said of itself, and the image record it ran under.
    runtime: dict[str, str] = field(default_factory=dict)


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-LOG_TAIL_LINES:])


def _run(
    container: Container,
    command: list[str],
    env: Mapping[str, str],
    *,
    job_name: str,
    reason: str,
) -> str:
    """Run ``command`` in ``container``; on a non-zero exit raise with the file the
    container wrote at ``reason`` (an ``/opt/ml/`` path) and the log's tail."""
    log_path = container.root / "job.log"
    completed = run(container, command, env, log=log_path)
    text = log_path.read_text(errors="replace")
    if completed.returncode != 0:
        written_at = host_path(container.opt_ml, reason)
        # SageMaker shows the first 1 KB of the file the container wrote.
        written = written_at.read_text(errors="replace")[:1024] if written_at.exists() else ""
        raise JobFailedError(job_name, completed.returncode, _tail(text), written.strip())
    return text


def isolated(arguments: Mapping[str, Any]) -> bool:
    """Whether a CreateProcessingJob / CreateTrainingJob request isolates its container."""
    network = arguments.get("NetworkConfig", {})  # processing
    return bool(network.get("EnableNetworkIsolation") or arguments.get("EnableNetworkIsolation"))


def run_processing_job(
    arguments: dict[str, Any], *, job_name: str, work_dir: Path, s3: Any, env: Mapping[str, str]
) -> JobRun:
    """Run a ``CreateProcessingJob`` request locally; returns its Describe response.

    ``env``: the platform's (the AWS endpoint and credentials); the container gets them
    only when the request does not isolate it."""
    started = time.monotonic()
    container = Container(work_dir / job_name, isolated(arguments))
    app = arguments["AppSpecification"]
    for item in arguments.get("ProcessingInputs", []):
        source = item["S3Input"]
        download_prefix(s3, source["S3Uri"], host_path(container.opt_ml, source["LocalPath"]))
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        host_path(container.opt_ml, item["S3Output"]["LocalPath"]).mkdir(
            parents=True, exist_ok=True
        )
    log = _run(
        container,
        [*app["ContainerEntrypoint"], *app.get("ContainerArguments", [])],
        container.environment(arguments.get("Environment", {}), platform=env),
        job_name=job_name,
        reason=f"{CONTAINER_ROOT}output/message",
    )
    for item in outputs:
        output = item["S3Output"]
        upload_dir(s3, host_path(container.opt_ml, output["LocalPath"]), output["S3Uri"])
    describe = {**arguments, "ProcessingJobName": job_name, "ProcessingJobStatus": "Completed"}
    return JobRun(
        job_name,
        describe,
        time.monotonic() - started,
        _tail(log),
        runtime=container.runtime(),
    )


def _write_config(base: Path, arguments: dict[str, Any]) -> None:
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    channels = arguments.get("InputDataConfig", [])
    (config / "hyperparameters.json").write_text(json.dumps(arguments.get("HyperParameters", {})))
    (config / "inputdataconfig.json").write_text(
        json.dumps(
            {
                channel["ChannelName"]: {
                    "TrainingInputMode": channel.get("InputMode", "File"),
                    "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                        "S3DataDistributionType", "FullyReplicated"
                    ),
                    "RecordWrapperType": "None",
                }
                for channel in channels
            }
        )
    )
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "lo"})
    )


def _final_metrics(definitions: list[dict[str, str]], log: str) -> dict[str, float]:
    """What SageMaker extracts with the job's metric definitions: the last match of each."""
    metrics: dict[str, float] = {}
    for definition in definitions:
        matches = re.findall(definition["Regex"], log)
        if matches:
            metrics[definition["Name"]] = float(matches[-1])
    return metrics


def _archive(source: Path, destination: Path) -> Path:
    with tarfile.open(destination, "w:gz") as archive:
        for path in sorted(source.rglob("*")):
            archive.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)
    return destination


def run_training_job(
    arguments: dict[str, Any], *, job_name: str, work_dir: Path, s3: Any, env: Mapping[str, str]
) -> JobRun:
    """Run a ``CreateTrainingJob`` request locally, as the XGBoost image runs it."""
    started = time.monotonic()
    container = Container(work_dir / job_name, isolated(arguments))
    base = container.opt_ml
    _write_config(base, arguments)
    for channel in arguments.get("InputDataConfig", []):
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        download_prefix(s3, uri, base / "input" / "data" / channel["ChannelName"])
    for folder in ("model", "output/data"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    log = _run(
        container,
        TRAIN_COMMAND,
        container.environment(
            arguments.get("Environment", {}),
            sagemaker={"TRAINING_JOB_NAME": job_name},
            platform=env,
        ),
        job_name=job_name,
        reason=f"{CONTAINER_ROOT}output/failure",
    )
    root = container.root
    output_uri = f"{arguments['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output"
    bucket, prefix = split_uri(output_uri)
    model = _archive(base / "model", root / "model.tar.gz")
    s3.upload_file(str(model), bucket, f"{prefix}/model.tar.gz")
    output = _archive(base / "output" / "data", root / "output.tar.gz")
    s3.upload_file(str(output), bucket, f"{prefix}/output.tar.gz")
    definitions = arguments.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    metrics = _final_metrics(definitions, log)
    describe = {
        **arguments,
        "TrainingJobName": job_name,
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": f"{output_uri}/model.tar.gz"},
        "FinalMetricDataList": [{"MetricName": k, "Value": v} for k, v in metrics.items()],
    }
    return JobRun(
        job_name, describe, time.monotonic() - started, _tail(log), metrics, container.runtime()
    )
