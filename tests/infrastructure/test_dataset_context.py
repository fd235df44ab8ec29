"""`-c dataset=<name>` is the one way in for the dataset: the app synthesized for each
dataset in config/datasets/ builds its pipeline, ETL, catalog and monitor from that
dataset's schema, and an unknown dataset or an invalid schema stops synth with the
validator's lines and no traceback.

cdk-nag runs inside every synth (app.py adds it) and cfn-lint over every template (the
synth cache, tests/synth_cache.py, lints each distinct template once); the security
properties are checked once, on the default app, in test_app.py.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest
from aws_cdk import App

import app
import config.schema
from config.layout import resource_name
from config.schema import DATASETS_DIR, dataset_names, load_schema
from config.validate_schema import check
from local.cdk_assembly import load_pipeline_template
from tests.synth_cache import dataset_configuration

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("Dev", "Prod")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=pytest.mark.synth(dataset_configuration(name)))
        for name in dataset_names()
    ],
)
def synthesized(request, synth_cache) -> tuple[str, Path]:
    """(dataset name, cloud assembly) of the whole app synthesized with -c dataset=<name>
    and a delivery connection (so the Delivery stack is built too): the run's one synth
    of that configuration, shared with every test that reads it."""
    report = synth_cache.report(dataset_configuration(request.param))
    # cdk-nag runs inside synth, cfn-lint over each template: every dataset's app is clean.
    assert report.nag_failures == [] and report.lint_findings == []
    return request.param, report.assembly_dir


def _steps(definition_body: str) -> dict[str, dict]:
    body = json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", definition_body))
    steps = {s["Name"]: s for s in body["Steps"]}
    for step in body["Steps"]:  # the Condition step's branches (Register, Fail)
        for branch in ("IfSteps", "ElseSteps"):
            steps.update({s["Name"]: s for s in step["Arguments"].get(branch, [])})
    return {**steps, "_parameters": {p["Name"]: p for p in body["Parameters"]}}


# Prod trains nothing by default (it serves Dev's approved release).
@pytest.mark.parametrize("stage", ["Dev"])
def test_pipeline_steps_read_the_chosen_schema(synthesized, stage: str) -> None:
    dataset, out = synthesized
    schema = load_schema(dataset)
    pipeline = load_pipeline_template(out, stage)
    assert pipeline.name == resource_name(stage, schema.name, "training")
    steps = _steps(pipeline.body)
    for name in ("Preprocess", "DataQualityBaseline"):
        arguments = steps[name]["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments[arguments.index("--schema") + 1] == f"config/datasets/{dataset}.json"
    # Train reads Preprocess's output, made with the schema shipped in the source bundle:
    # that copy must be this dataset's, target included.
    bundle = pipeline.assets[(pipeline.values["AssetsBucket"], pipeline.values["SourceBundleKey"])]
    with tarfile.open(bundle) as tar:
        member = tar.extractfile(f"config/datasets/{dataset}.json")
        assert member is not None
        shipped = json.loads(member.read())
    assert shipped["target"]["name"] == schema.target.name
    train_inputs = json.dumps(steps["Train"]["Arguments"]["InputDataConfig"])
    assert "Steps.Preprocess.ProcessingOutputConfig" in train_inputs
    gate = steps["QualityGate"]["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]
    assert gate["Path"] == schema.quality_gate.json_path
    threshold = steps["_parameters"]["MetricThreshold"]["DefaultValue"]
    assert threshold == schema.quality_gate.threshold
    register = steps["Register"]["Arguments"]["CustomerMetadataProperties"]
    assert register == {"dataset": dataset, "gate_metric": schema.quality_gate.metric}


def test_etl_and_catalog_follow_the_dataset(synthesized) -> None:
    dataset, out = synthesized
    schema = load_schema(dataset)
    template_path = next((out / "assembly-Dev").glob("*DataLake*.template.json"))
    resources = json.loads(template_path.read_text())["Resources"].values()
    assets = json.loads(
        template_path.with_name(
            template_path.name.replace(".template.json", ".assets.json")
        ).read_text()
    )
    jobs = [r["Properties"] for r in resources if r["Type"] == "AWS::Glue::Job"]
    assert len(jobs) == 2
    for job in jobs:
        asset_hash = job["DefaultArguments"]["--schema_uri"].rsplit("/", 1)[1].split(".")[0]
        staged = template_path.parent / assets["files"][asset_hash]["source"]["path"]
        assert staged.read_text() == (DATASETS_DIR / f"{dataset}.json").read_text()
    tables = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in resources
        if r["Type"] == "AWS::Glue::Table"
    }
    curated = tables[f"{schema.name}_curated"]["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in curated] == [name for name, _ in schema.curated_columns()]


def test_monitoring_watches_the_datasets_endpoint(synthesized) -> None:
    dataset, out = synthesized
    schema = load_schema(dataset)
    template = next((out / "assembly-Dev").glob("*Monitoring*.template.json")).read_text()
    assert resource_name("Dev", schema.name, "endpoint") in template
    assert f"config/datasets/{dataset}.json" in template
    for other in set(dataset_names()) - {dataset}:
        assert f"config/datasets/{other}.json" not in template
        assert resource_name("Dev", load_schema(other).name, "endpoint") not in template


def test_the_delivery_pipeline_repeats_the_dataset(synthesized) -> None:
    dataset, out = synthesized
    template = json.loads((out / "Delivery.template.json").read_text())
    commands = [
        command
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CodeBuild::Project"
        for phase in json.loads(resource["Properties"]["Source"]["BuildSpec"])["phases"].values()
        for command in phase.get("commands", [])
    ]
    [synth] = [c for c in commands if "cdk synth" in c]
    assert re.search(rf"-c dataset={dataset}(\s|$)", synth), synth
    checks = [c for c in commands if "tools.delivery_checks" in c]
    assert len(checks) == 2
    assert all(c.endswith(f"--dataset {dataset}") for c in checks), checks


def test_an_unknown_dataset_stops_synth_with_one_line(capsys) -> None:
    # In-process, as `cdk synth -c dataset=nope` runs app.py: exit 1, one line, no trace.
    with pytest.raises(SystemExit) as exit_:
        app.main(App(context={"dataset": "nope"}))
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (
        "-c dataset: 'nope' is not a dataset in config/datasets/; fix: use one of "
        f"{', '.join(dataset_names())}, or save your schema as config/datasets/nope.json"
    ) in err.splitlines()


def test_an_invalid_schema_stops_synth_with_the_validators_lines(tmp_path, monkeypatch, capsys):
    data = json.loads((DATASETS_DIR / "house_prices.json").read_text())
    data["features"][0]["max"] = 10  # below its min
    data["quality_gate"]["metric"] = "auc"  # not a regression metric
    (tmp_path / "mine.json").write_text(json.dumps(data))
    monkeypatch.setattr(config.schema, "DATASETS_DIR", tmp_path)
    with pytest.raises(SystemExit) as exit_:
        app.main(App(context={"dataset": "mine"}))
    assert exit_.value.code == 1
    valid, lines = check("mine")
    assert not valid
    assert len(lines) == 2
    assert capsys.readouterr().err.splitlines()[1:] == lines
