"""Shared fixtures. No test may need AWS credentials or the network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import hypothesis_profiles, scheduling
from tests.shared_work import SharedWork, run_root
from tests.synth_cache import CONFIGURATIONS, SynthCache

if TYPE_CHECKING:
    from local.synth_check import SynthReport

for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(name, None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
hypothesis_profiles.load()


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session for the whole run (starting one costs seconds)."""
    from glue.job_runtime import local_spark

    session = local_spark("tests", cores="2")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def synth_cache(request, tmp_path_factory) -> SynthCache:
    """Each app configuration the collected tests use, synthesized once for the whole run
    (all pytest-xdist workers of it included: they share the folder above their own)."""
    root = run_root(tmp_path_factory.getbasetemp()) / "synth"
    root.mkdir(exist_ok=True)
    needed = {
        name
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in CONFIGURATIONS
    } | {marker.args[0] for item in request.session.items for marker in item.iter_markers("synth")}
    return SynthCache(root, needed)


@pytest.fixture(scope="session")
def shared_work(tmp_path_factory) -> SharedWork:
    """Results built once for the whole run, every pytest-xdist worker included."""
    root = run_root(tmp_path_factory.getbasetemp()) / "shared"
    root.mkdir(exist_ok=True)
    return SharedWork(root)


@pytest.fixture(scope="session")
def synth_report(synth_cache) -> SynthReport:
    """The whole app synthesized once, offline, with cdk-nag and cfn-lint run over it."""
    return synth_cache.report("synth_report")


@pytest.fixture(scope="session")
def synth_report_with_arn(synth_cache) -> SynthReport:
    """The app synthesized with a model package to serve (so with the Serving stacks)."""
    return synth_cache.report("synth_report_with_arn")


@pytest.fixture(scope="session")
def synth_report_dev_serverless(synth_cache) -> SynthReport:
    """The app with Dev on a serverless endpoint (`-c dev_serverless=true`)."""
    return synth_cache.report("synth_report_dev_serverless")


@pytest.fixture(scope="session")
def synth_report_vpc(synth_cache) -> SynthReport:
    """The app in VPC mode, a VPC of its own (`-c vpc=new`)."""
    return synth_cache.report("synth_report_vpc")


@pytest.fixture(scope="session")
def delivery_one_account(synth_cache) -> SynthReport:
    """The app with the Delivery stack (CDK Pipelines), Dev and Prod in one account."""
    return synth_cache.report("delivery_one_account")


@pytest.fixture(scope="session")
def delivery_two_accounts(synth_cache) -> SynthReport:
    """The app with the Delivery stack, Prod in an account of its own."""
    return synth_cache.report("delivery_two_accounts")


def train_packaged(work, schema_path, rows: int, *, seed: int) -> dict:
    """Curated rows of ``schema_path``'s synthetic data -> preprocess -> train ->
    model.tar.gz -> evaluate under ``work``, each entry point run as a script the way the
    SageMaker containers run it (arguments, SM_* env); returns the paths."""
    import subprocess
    import sys
    import tarfile

    from config.schema import load_schema
    from local.lake.synthetic import generate_clean

    root = Path(__file__).resolve().parents[1]
    schema = load_schema(schema_path)
    curated = work / "curated"
    curated.mkdir()
    generate_clean(schema, rows, seed=seed).to_parquet(curated / "part-0.parquet")

    def run(script: str, *args: str, env: dict | None = None) -> str:
        done = subprocess.run(
            [sys.executable, str(root / "training" / script), *args],
            cwd=work,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    prep = work / "prep"
    run(
        "preprocess.py",
        "--input",
        str(curated),
        "--schema",
        str(schema_path),
        "--output",
        str(prep),
        "--seed",
        "3",
    )
    model_dir = work / "model"
    train_log = run(
        "train.py",
        "--num_round",
        "80",
        "--max_depth",
        "4",
        "--early_stopping_rounds",
        "10",
        env={
            "SM_CHANNEL_TRAIN": str(prep / "train"),
            "SM_CHANNEL_VALIDATION": str(prep / "validation"),
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(work / "output"),
        },
    )
    packaged = work / "packaged"
    packaged.mkdir()
    with tarfile.open(packaged / "model.tar.gz", "w:gz") as archive:
        for item in model_dir.iterdir():
            archive.add(item, arcname=item.name)
    run(
        "evaluate.py",
        "--model",
        str(packaged),
        "--test",
        str(prep / "test"),
        "--output",
        str(work / "evaluation"),
    )
    return {
        "work": work,
        "prep": prep,
        "model_dir": model_dir,
        "train_log": train_log,
        "evaluation": work / "evaluation",
        "output": work / "output",
    }


@pytest.fixture(scope="session")
def model_run(shared_work) -> dict:
    """Curated churn rows -> preprocess -> train -> model.tar.gz -> evaluate, each entry
    point run as a script the way the SageMaker containers run it (arguments, SM_* env):
    one trained binary model for the whole run (read-only for its readers)."""
    from config.schema import DATASETS_DIR

    return shared_work.get(
        "model", lambda work: train_packaged(work, DATASETS_DIR / "churn.json", 6000, seed=5)
    )


# A synthetic multiclass schema with an id and an event time (3 classes, mixed types).
MULTICLASS_SCHEMA = Path(__file__).resolve().parent / "data" / "schemas" / "plan_choice.json"


@pytest.fixture(scope="session")
def multiclass_model_run(shared_work) -> dict:
    """``model_run`` for the synthetic multiclass test schema: one for the whole run."""
    return shared_work.get(
        "multiclass-model", lambda work: train_packaged(work, MULTICLASS_SCHEMA, 3000, seed=5)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first, spread over the pytest-xdist workers (tests/scheduling.py)."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    items[:] = scheduling.long_first(items, [item.nodeid for item in items], workers)
