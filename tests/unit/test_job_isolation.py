"""A local container of the XGBoost image gets what SageMaker gives it and nothing else:
the image's environment, the request's ``Environment``, what SageMaker sets; AWS access
only when not network isolated, and no network at all when isolated."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

import local.pipeline.sagemaker_jobs as jobs
from local.image.container import IMAGE_VENV, Container, image_environment, image_record
from local.pipeline.sagemaker_jobs import isolated, run_processing_job

PLATFORM = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    # The rest of this machine's environment: none of it may reach a container.
    "AWS_DEFAULT_REGION": "eu-west-1",
    "PYTHONPATH": "/work/checkout",
    "PIP_INDEX_URL": "file:///opt/pypi/simple",
    "VIRTUAL_ENV": "/work/.venv",
    "PATH": "/work/.venv/bin:/usr/bin",
}
DECLARED = {"AWS_DEFAULT_REGION": "us-east-1", "SAGEMAKER_PROGRAM": "inference.py"}
# What the shell that sets the container up adds of its own.
SHELL = {"PWD", "OLDPWD", "SHLVL", "_"}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"NetworkConfig": {"EnableNetworkIsolation": True}}, True),  # processing
        ({"EnableNetworkIsolation": True}, True),  # training
        ({"NetworkConfig": {"EnableNetworkIsolation": False}}, False),
        ({}, False),
    ],
)
def test_isolation_is_read_from_either_request_shape(request_, expected) -> None:
    assert isolated(request_) is expected


def test_the_environment_is_the_image_the_declaration_and_sagemaker_only(tmp_path) -> None:
    image = image_environment(image_record())
    sagemaker = {"TRAINING_JOB_NAME": "train-1"}
    closed = Container(tmp_path / "a", isolated=True)
    assert closed.environment(DECLARED, sagemaker=sagemaker, platform=PLATFORM) == {
        **image,
        **DECLARED,
        **sagemaker,
        "HOME": "/root",
    }
    open_ = Container(tmp_path / "b", isolated=False)
    assert open_.environment(DECLARED, platform=PLATFORM) == {
        **image,
        **DECLARED,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "HOME": "/root",
    }
    # The image's PATH puts its venv first: `python3` is the image's.
    assert image["PATH"].startswith("/opt/venv/bin:")


class _NoS3:
    """A job with no inputs or outputs touches no S3."""


def _probe(script: str, isolate: bool) -> dict:
    return {
        "AppSpecification": {"ImageUri": "local", "ContainerEntrypoint": ["python3", "-c", script]},
        "Environment": DECLARED,
        "NetworkConfig": {"EnableNetworkIsolation": isolate},
    }


DUMP = (
    "import json, os, pathlib; pathlib.Path('/opt/ml/processing/output/env.json')"
    ".write_text(json.dumps(dict(os.environ)))"
)


@pytest.mark.parametrize("isolate", [True, False])
def test_the_process_sees_exactly_that_environment(tmp_path, monkeypatch, isolate) -> None:
    request = _probe(DUMP, isolate)
    request["ProcessingOutputConfig"] = {
        "Outputs": [
            {
                "OutputName": "env",
                "S3Output": {"S3Uri": "s3://b/env", "LocalPath": "/opt/ml/processing/output"},
            }
        ]
    }
    uploaded = {}

    def upload(s3, folder, uri):
        uploaded[uri] = json.loads((folder / "env.json").read_text())

    monkeypatch.setattr(jobs, "upload_dir", upload)
    run = run_processing_job(request, job_name="env", work_dir=tmp_path, s3=_NoS3(), env=PLATFORM)
    seen = {k: v for k, v in uploaded["s3://b/env"].items() if k not in SHELL}
    expected = Container(tmp_path / "env", isolate).environment(DECLARED, platform=PLATFORM)
    assert seen == expected
    assert run.runtime["executable"] == "/opt/venv/bin/python3"
    assert run.runtime["python"].startswith(image_record().python + ".")


def _listening() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    return server, server.getsockname()[1]


def test_an_isolated_container_has_no_network_and_an_open_one_reaches_loopback(
    tmp_path,
) -> None:
    server, port = _listening()
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"
    with server:
        run = run_processing_job(
            _probe(connect, False), job_name="open", work_dir=tmp_path, s3=_NoS3(), env=PLATFORM
        )
        assert run.describe["ProcessingJobStatus"] == "Completed"
        with pytest.raises(RuntimeError, match="exited with 1") as failed:
            run_processing_job(
                _probe(connect, True),
                job_name="closed",
                work_dir=tmp_path,
                s3=_NoS3(),
                env=PLATFORM,
            )
    # The container's loopback is its own: the host's listener is not there.
    assert "ConnectionRefusedError" in failed.value.log_tail


def test_what_a_container_installs_stays_in_it(tmp_path) -> None:
    # The toolkit `pip install`s user code into the image's environment: a layer of the
    # container's own, never the image shared by every job.
    script = (
        "import pathlib, sys; site = pathlib.Path(sys.prefix, 'lib', 'python3.12', "
        "'site-packages'); (site / 'left_behind.py').write_text('')"
    )
    run_processing_job(
        _probe(script, True), job_name="writer", work_dir=tmp_path, s3=_NoS3(), env=PLATFORM
    )
    assert not (IMAGE_VENV / "lib" / "python3.12" / "site-packages" / "left_behind.py").exists()
    layer = tmp_path / "writer" / "layer" / "upper" / "lib" / "python3.12" / "site-packages"
    assert (layer / "left_behind.py").exists()


def test_this_machines_caches_and_settings_stay_outside(tmp_path) -> None:
    # The image builds no caches under $HOME: a host's matplotlib font list or pip
    # settings seen there would make a job start faster, or differently, than in SageMaker.
    script = (
        "import json, os, pathlib; home = pathlib.Path.home(); print(json.dumps("
        "{d: sorted(os.listdir(home / d)) for d in ('.cache', '.config')}))"
    )
    marker = Path("/root/.cache/local-container-probe")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    try:
        run_processing_job(
            _probe(script, True), job_name="home", work_dir=tmp_path, s3=_NoS3(), env=PLATFORM
        )
    finally:
        marker.unlink()
    log = (tmp_path / "home" / "job.log").read_text()
    assert json.loads(log.strip().splitlines()[-1]) == {".cache": [], ".config": []}
