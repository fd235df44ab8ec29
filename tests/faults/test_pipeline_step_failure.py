"""Fault: a pipeline step's entry point raises. The execution must fail with that step's
reason, visible where AWS shows it (ListPipelineExecutionSteps' FailureReason), and
nothing may be registered in the model package group.

The synthesized Dev pipeline runs on the local runtime (moto); the fault is injected
where it would happen on AWS: the Train step's program (``sagemaker_program``) in the
source bundle SageMaker hands the job (its ``code`` input channel) raises before training.
"""

from __future__ import annotations

import io
import tarfile

import pytest

from config.schema import load_schema
from local.lake.synthetic import generate_clean
from local.pipeline.training_run import execute, installed_pipeline
from local.s3_sync import split_uri
from stacks.constructs.pipeline_settings import CODE_CHANNEL

FAULT = "injected fault: the training entry point raised"


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("curated")
    generate_clean(load_schema("churn"), 1500, seed=11).to_parquet(directory / "part-0.parquet")
    return directory


def _raising_program(s3, arguments: dict) -> None:
    """Rewrite the source bundle on S3 so that the step's program raises when it starts."""
    [code] = [c for c in arguments["InputDataConfig"] if c["ChannelName"] == CODE_CHANNEL]
    bucket, key = split_uri(code["DataSource"]["S3DataSource"]["S3Uri"])
    program = arguments["HyperParameters"]["sagemaker_program"].strip('"')
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    rewritten = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(original)) as source,
        tarfile.open(fileobj=rewritten, mode="w:gz") as target,
    ):
        names = source.getnames()
        assert program in names, names
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if member.name == program and data is not None:
                source_text = data.read().decode()
                main = 'if __name__ == "__main__":\n'
                assert main in source_text
                # Raised where the program starts its work (after its imports).
                text = source_text.replace(main, f"{main}    raise RuntimeError({FAULT!r})\n")
                text = text.encode()
                member.size = len(text)
                target.addfile(member, io.BytesIO(text))
            else:
                target.addfile(member, data)
    s3.put_object(Bucket=bucket, Key=key, Body=rewritten.getvalue())


def test_a_failing_train_step_fails_the_execution_and_registers_nothing(
    synth_report, curated, tmp_path
) -> None:
    with installed_pipeline(synth_report.assembly_dir, curated, tmp_path) as (platform, pipeline):
        _raising_program(platform.s3, pipeline.steps["Train"].definition["Arguments"])
        run = execute(platform, pipeline)

    [execution] = run.executions
    assert execution.status == "Failed"
    assert execution.failure_reason.startswith("step Train failed")
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert steps["Train"]["StepStatus"] == "Failed"
    # What the toolkit wrote to /opt/ml/output/failure, as SageMaker shows it: the
    # program's command failed; the exception itself is in the job's log.
    reason = steps["Train"]["FailureReason"]
    assert "ExecuteUserScriptError" in reason and "-m train" in reason
    assert execution.failure_reason.endswith(reason)
    job = steps["Train"]["Metadata"]["TrainingJob"]["Name"]
    assert FAULT in (tmp_path / execution.id / job / "job.log").read_text()
    assert steps["Train"]["Metadata"]["TrainingJob"]["Name"].endswith("-train")
    assert steps["Preprocess"]["StepStatus"] == "Succeeded"
    assert "FailureReason" not in steps["Preprocess"]
    # Nothing after the failed step ran, and the registry is empty.
    assert {"Evaluate", "QualityGate", "Register"}.isdisjoint(steps)
    assert execution.model_package_arn is None
    assert run.model_packages == []  # listed from the registry (moto), not from the run
