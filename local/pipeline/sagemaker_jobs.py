"""Run a processing or training job locally, the way SageMaker's containers run it.

Each job gets its own folder laid out like the container's ``/opt/ml``. Inputs are
staged down from S3 (moto) before the entry point starts and outputs are uploaded
after it exits 0, exactly as the service does. The entry point runs in a subprocess:

* processing: the job's ``ContainerEntrypoint`` + ``ContainerArguments``, with every
  ``/opt/ml/`` path moved under the job's folder;
* training: the XGBoost image's ``train`` command under the image's own Python stack
  (``local/serving/image_process.py``): sagemaker-containers reads ``input/config/*.json``,
  downloads and installs ``sagemaker_submit_directory``, sets the ``SM_*`` environment and
  runs ``sagemaker_program`` with the hyperparameters as arguments.

A failed job reports what the container wrote for SageMaker: ``/opt/ml/output/failure``
(training, ``FailureReason``) or ``/opt/ml/output/message`` (processing, ``ExitMessage``).

A network-isolated job (``EnableNetworkIsolation``) gets what SageMaker gives such a
container: no AWS credentials and no AWS endpoint (here: the moto server's address is
withheld, and the instance metadata lookup is off), so code in it that calls AWS fails
locally as it would in the cloud. Its inputs and outputs are still staged by "the service".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.s3_sync import download_prefix, split_uri, upload_dir
from local.serving.image_process import container_env, image_command, remap

CONTAINER_ROOT = "/opt/ml/"
LOG_TAIL_LINES = 20
# What an isolated container does not get: credentials, and where AWS is.
WITHHELD_FROM_ISOLATED = re.compile(
    r"^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_SECURITY_TOKEN|"
    r"AWS_PROFILE|AWS_SHARED_CREDENTIALS_FILE|AWS_CONFIG_FILE|AWS_ENDPOINT_URL.*|"
    r"AWS_CONTAINER_CREDENTIALS_.*)$"
)


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


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-LOG_TAIL_LINES:])


def _run(
    command: list[str], *, env: Mapping[str, str], log_path: Path, job_name: str, reason: Path
) -> str:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        completed = subprocess.run(
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, check=False
        )
    text = log_path.read_text(errors="replace")
    if completed.returncode != 0:
        # SageMaker shows the first 1 KB of the file the container wrote.
        written = reason.read_text(errors="replace")[:1024] if reason.exists() else ""
        raise JobFailedError(job_name, completed.returncode, _tail(text), written.strip())
    return text


def isolated(arguments: Mapping[str, Any]) -> bool:
    """Whether a CreateProcessingJob / CreateTrainingJob request isolates its container."""
    network = arguments.get("NetworkConfig", {})  # processing
    return bool(network.get("EnableNetworkIsolation") or arguments.get("EnableNetworkIsolation"))


def network_env(env: Mapping[str, str], arguments: Mapping[str, Any]) -> dict[str, str]:
    """``env`` as the job's container sees it: without credentials and AWS endpoints if
    the job is network isolated."""
    if not isolated(arguments):
        return dict(env)
    kept = {k: v for k, v in env.items() if not WITHHELD_FROM_ISOLATED.match(k)}
    return {**kept, "AWS_EC2_METADATA_DISABLED": "true"}


def _child_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    # The job's `python3` must be this interpreter, with the project's packages.
    path = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return {**base, **extra, "PATH": path}


def run_processing_job(
    arguments: dict[str, Any], *, job_name: str, work_dir: Path, s3: Any, env: Mapping[str, str]
) -> JobRun:
    """Run a ``CreateProcessingJob`` request locally; returns its Describe response."""
    started = time.monotonic()
    root = work_dir / job_name
    app = arguments["AppSpecification"]

    def local(value: str) -> str:
        return value.replace(CONTAINER_ROOT, f"{root}{CONTAINER_ROOT}")

    for item in arguments.get("ProcessingInputs", []):
        source = item["S3Input"]
        download_prefix(s3, source["S3Uri"], Path(local(source["LocalPath"])))
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        Path(local(item["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
    command = [
        local(part) for part in [*app["ContainerEntrypoint"], *app.get("ContainerArguments", [])]
    ]
    output = Path(local(f"{CONTAINER_ROOT}output"))
    log = _run(
        command,
        env=_child_env(
            network_env(env, arguments),
            {**arguments.get("Environment", {}), "SM_OUTPUT_DIR": str(output)},
        ),
        log_path=root / "job.log",
        job_name=job_name,
        reason=output / "message",
    )
    for item in outputs:
        upload_dir(s3, Path(local(item["S3Output"]["LocalPath"])), item["S3Output"]["S3Uri"])
    describe = {**arguments, "ProcessingJobName": job_name, "ProcessingJobStatus": "Completed"}
    return JobRun(job_name, describe, time.monotonic() - started, _tail(log))


def _write_config(base: Path, arguments: dict[str, Any]) -> None:
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    channels = arguments.get("InputDataConfig", [])
    # Container paths in hyperparameters (the code channel's bundle) move with /opt/ml.
    hyperparameters = {
        name: remap(value, base) for name, value in arguments.get("HyperParameters", {}).items()
    }
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
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
    root = work_dir / job_name
    base = root / "opt" / "ml"
    _write_config(base, arguments)
    for channel in arguments.get("InputDataConfig", []):
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        download_prefix(s3, uri, base / "input" / "data" / channel["ChannelName"])
    for folder in ("model", "output/data"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    log = _run(
        image_command("train"),
        env=container_env(
            network_env(env, arguments),
            base,
            {**arguments.get("Environment", {}), "TRAINING_JOB_NAME": job_name},
        ),
        log_path=root / "job.log",
        job_name=job_name,
        reason=base / "output" / "failure",
    )
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
    return JobRun(job_name, describe, time.monotonic() - started, _tail(log), metrics)
