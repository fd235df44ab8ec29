"""The Train step as the XGBoost image runs it: sagemaker-containers 2.8.6's trainer.

The request is the synthesized pipeline's own Train step (program, submit directory,
hyperparameters, metric definitions); only the channels and the output path, which
SageMaker fills in at run time from Preprocess's outputs, are pointed at test data.
The job runs in a real ``/opt/ml`` layout: the toolkit extracts the source bundle (the
code channel's file: the step is network isolated, so the container has no credentials to
download anything itself), pip-installs it offline, and runs the program with its own
runner.
"""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

from local.moto_platform import ARTIFACTS_BUCKET, local_platform
from local.pipeline.sagemaker_jobs import JobFailedError, run_training_job
from local.s3_sync import upload_dir
from stacks.constructs.pipeline_settings import CODE_CHANNEL, TOOLKIT_ENVIRONMENT
from tests.contract.conftest import as_the_image, step_arguments
from training import serving_code


@pytest.fixture(scope="module")
def platform(pipeline_template):
    """A moto server holding the stage's assets (the source bundle) and the splits."""
    with local_platform() as platform:
        for bucket in {ARTIFACTS_BUCKET, *(b for b, _ in pipeline_template.assets)}:
            platform.s3.create_bucket(Bucket=bucket)
        for (bucket, key), path in pipeline_template.assets.items():
            platform.s3.upload_file(str(path), bucket, key)
        yield platform


def train_request(definition, model_run, platform, **hyperparameters: str) -> dict:
    arguments = step_arguments(definition, "Train")
    for channel in arguments["InputDataConfig"]:
        name = channel["ChannelName"]
        if name == CODE_CHANNEL:
            continue  # the source bundle CDK publishes, as synthesized
        uri = f"s3://{ARTIFACTS_BUCKET}/contract/splits/{name}/"
        upload_dir(platform.s3, model_run["prep"] / name, uri)
        channel["DataSource"]["S3DataSource"]["S3Uri"] = uri
    arguments["OutputDataConfig"]["S3OutputPath"] = f"s3://{ARTIFACTS_BUCKET}/contract/train"
    arguments["HyperParameters"].update(hyperparameters)
    return arguments


def test_the_synthesized_train_step_runs_under_the_image_toolkit(
    definition, pipeline_template, model_run, platform, tmp_path
) -> None:
    request = train_request(definition, model_run, platform, num_round="30")
    # What decides the contract comes from the synthesized definition: the program, and
    # the source bundle CDK publishes as an asset.
    assert request["HyperParameters"]["sagemaker_program"] == "train.py"
    assert request["EnableNetworkIsolation"] is True
    [code] = [c for c in request["InputDataConfig"] if c["ChannelName"] == CODE_CHANNEL]
    bundle = code["DataSource"]["S3DataSource"]["S3Uri"]
    assert tuple(bundle.removeprefix("s3://").split("/", 1)) in pipeline_template.assets
    assert request["HyperParameters"]["sagemaker_submit_directory"] == (
        f"/opt/ml/input/data/{CODE_CHANNEL}/{bundle.rsplit('/', 1)[-1]}"
    )

    with as_the_image():
        run = run_training_job(
            request, job_name="contract-train", work_dir=tmp_path, s3=platform.s3, env=platform.env
        )
    assert run.runtime["bytecode"] == "none"
    log = run.log_tail
    assert "final validation-logloss=" in log
    # SageMaker's metric definitions (from the definition) find the job's metrics.
    assert 0.5 < run.metrics["validation:auc"] <= 1.0
    assert 0.0 < run.metrics["validation:logloss"] < np.log(2)  # better than a coin

    # The model artifact: the booster, its transformation, and the serving code.
    uri = run.describe["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    archive = tmp_path / "model.tar.gz"
    platform.s3.download_file(bucket, key, str(archive))
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    code = serving_code.CODE_DIR
    assert {"model.ubj", "transform.json", f"{code}/{serving_code.PROGRAM}"} <= names
    assert f"{code}/features/transform.py" in names and f"{code}/config/schema.py" in names
    # The toolkit ran the program from the installed bundle, as `python -m train`; the
    # job got neither credentials nor the moto endpoint (isolated: run_training_job
    # withholds them), so nothing in it reached S3 or PyPI.
    opt_ml = tmp_path / "contract-train" / "opt" / "ml"
    assert (opt_ml / "code" / "train.py").exists()
    assert "-m train" in (tmp_path / "contract-train" / "job.log").read_text()


def test_a_program_inside_a_folder_does_not_run_under_the_image(
    definition, model_run, platform, tmp_path
) -> None:
    # Why the program sits at the bundle's root: the toolkit turns it into `python -m`.
    request = train_request(
        definition, model_run, platform, sagemaker_program="training/train.py", num_round="5"
    )
    with pytest.raises(JobFailedError) as failed:
        run_training_job(
            request, job_name="contract-folder", work_dir=tmp_path, s3=platform.s3, env=platform.env
        )
    assert "No module named training/train" in failed.value.log_tail


def test_a_failing_program_reports_why(definition, model_run, platform, tmp_path) -> None:
    request = train_request(definition, model_run, platform, max_depth="deep")
    with pytest.raises(JobFailedError) as failed:
        run_training_job(
            request, job_name="contract-fail", work_dir=tmp_path, s3=platform.s3, env=platform.env
        )
    # The toolkit writes /opt/ml/output/failure (SageMaker's FailureReason): the command;
    # the program's own reason is in the job's log.
    assert failed.value.reason.startswith("ExecuteUserScriptError")
    assert "invalid int value: 'deep'" in failed.value.log_tail


def test_without_its_declared_pip_setting_the_isolated_step_cannot_start(
    definition, model_run, platform, tmp_path
) -> None:
    # What the template's Environment is for: the image's pip (26.1) builds the code
    # folder in an isolated build environment that downloads setuptools; the container has
    # no network, so the toolkit's install fails before the program runs, as in AWS.
    request = train_request(definition, model_run, platform, num_round="5")
    assert request["Environment"] == TOOLKIT_ENVIRONMENT
    del request["Environment"]
    with pytest.raises(JobFailedError) as failed:
        run_training_job(
            request, job_name="contract-no-pip", work_dir=tmp_path, s3=platform.s3, env=platform.env
        )
    assert failed.value.reason.startswith("InstallModuleError")
    log = (tmp_path / "contract-no-pip" / "job.log").read_text()
    assert "when installing build dependencies" in log
