"""`make run DATASET=<name> RAW=tests/data/<name>`: the whole lifecycle on a public
dataset's raw files, nothing generated. One case per dataset in ``CASES``; a dataset is
added by adding its raw files, its schema and one entry here.

Each case proves: every record of the files is accounted for (the ETL's counts balance,
and raw zone + held-out records are the files' records, counted here from their text),
a file whose header lacks a required column is quarantined whole and reported, the
pipeline registers a model whose gate metric passes the schema's gate and lies in the
metric's range, and the local endpoint scores the held-out rows.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from config.schema import load_schema
from local import run
from local.run import main
from local.synth_check import SynthReport
from tests.shared_work import Result, SharedWork
from tests.synth_cache import SynthCache, copy_report, dataset_configuration

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# Metrics bounded by definition (the gate's threshold must lie inside, see config/schema.py).
UNIT_INTERVAL = {"auc", "accuracy", "precision", "recall", "f1", "macro_f1", "weighted_f1"}


@dataclass(frozen=True)
class Case:
    """A dataset under tests/data/<name>/ and what its files are known to hold."""

    name: str
    # file name -> the required column(s) its header lacks (the file is quarantined whole)
    lacking: dict[str, str] = field(default_factory=dict)
    # columns the files hold that the schema does not declare (ignored and reported)
    extra: frozenset[str] = frozenset()
    # quarantine reason -> records, the held-out files' included (known from the files)
    quarantined: dict[str, int] = field(default_factory=dict)


CASES = [
    Case(
        "titanic",
        lacking={"passengers-3.csv": "sex"},
        extra=frozenset({"alive", "class", "embark_town"}),
    ),
    # Multiclass, no id, no event time; one file as published: its headers ("Culmen
    # Length (mm)") mapped by the schema's raw_headers, its NA values quarantined.
    Case(
        "penguins",
        extra=frozenset(
            {
                "studyName",
                "Sample Number",
                "Region",
                "Stage",
                "Individual ID",
                "Date Egg",
                "Delta 15 N (o/oo)",
                "Delta 13 C (o/oo)",
                "Comments",
            }
        ),
        # NA (R's missing value) is text to the ETL: all four measurements NA in 2
        # records, the sex alone in 9 more.
        quarantined={"wrong_type": 2, "unknown_category": 9},
    ),
    # Regression, no id column, event time pickup, a timestamp feature (dropoff).
    Case("taxis", extra=frozenset({"tip", "tolls", "total", "pickup_zone", "dropoff_zone"})),
]


def _records(folder: Path) -> int:
    """Records in the raw files, from their text: non-blank lines less each CSV header."""
    total = 0
    for path in folder.rglob("*"):
        if path.suffix in (".csv", ".jsonl", ".json"):
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            total += len(lines) - (path.suffix == ".csv")
    return total


def lifecycle(name: str, shared_work: SharedWork, synth_cache: SynthCache) -> tuple[dict, str]:
    """`make run DATASET=<name> RAW=tests/data/<name>` once for the whole test run: its
    summary and what it printed (the runs' own report; tests/unit/test_dataset_doc.py
    reads titanic's too). Step 1 (synth, cdk-nag, cfn-lint of `-c dataset=<name>`) is
    answered from the run's one synth of that app."""

    def build(work: Path) -> Result:
        session_synth = synth_cache.report(dataset_configuration(name))

        def copy_of_session_synth(outdir: Path, extra_context: object = None) -> SynthReport:
            assert extra_context == {"dataset": name}
            return copy_report(session_synth, outdir)

        printed = io.StringIO()
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
            patch.setattr(run, "synth_and_check", copy_of_session_synth)
            # From the checkout, with the raw folder as the documented command names it.
            patch.chdir(ROOT)
            raw = str((DATA / name).relative_to(ROOT))
            arguments = ["--dataset", name, "--raw", raw, "--out", str(work / "run")]
            summary = main(arguments)
        (work / "summary.json").write_text(json.dumps(summary))
        (work / "printed.txt").write_text(printed.getvalue())
        return {
            "run": work / "run",
            "summary": work / "summary.json",
            "printed": work / "printed.txt",
        }

    result = shared_work.get(f"lifecycle-{name}", build)
    assert json.loads(Path(result["run"], "summary.json").read_text()) == json.loads(
        Path(result["summary"]).read_text()
    )
    return json.loads(Path(result["summary"]).read_text()), Path(result["printed"]).read_text()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=pytest.mark.synth(dataset_configuration(c.name)))
        for c in CASES
    ],
)
def test_lifecycle_on_public_raw_files(case: Case, spark, shared_work, synth_cache) -> None:
    summary, printed = lifecycle(case.name, shared_work, synth_cache)
    print(printed)  # the run's own report, shown with -s
    raw = DATA / case.name
    schema = load_schema(case.name)

    zones = summary["zones"]
    processed, held = zones["processed"], zones["held_out"]
    assert zones["raw"]["records"] == _records(raw)
    assert zones["raw"]["records"] == processed["input_rows"] + held["input_rows"]
    for counts in (processed, held):
        assert counts["balanced"]
        assert counts["input_rows"] == (
            counts["valid_rows"] + counts["quarantined_rows"] + counts["duplicates_dropped"]
        )
    batch = processed["batches"][0]
    rejected = {Path(p).name: problem for p, problem in batch["rejected_files"].items()}
    assert set(rejected) == set(case.lacking)
    for name, columns in case.lacking.items():
        assert f"lacks required column(s) {columns}" in rejected[name]
        assert f"quarantined whole: {name}" in printed
    extra = {column for columns in batch["extra_columns"].values() for column in columns}
    assert extra == case.extra
    if case.quarantined:
        reasons = [processed["quarantined_by_reason"], held["quarantined_by_reason"]]
        totals = {r: sum(by.get(r, 0) for by in reasons) for r in {*reasons[0], *reasons[1]}}
        assert totals == case.quarantined
    assert zones["curated"]["curated_rows"] == processed["valid_rows"]  # one row per record
    assert set(schema.model_feature_names()) <= set(zones["curated"]["columns"])

    first = summary["pipeline"][0]
    assert first["status"] == "Succeeded"
    assert [s["name"] for s in first["steps"]][-1] == "Register"
    gate = schema.quality_gate
    value = summary["model_packages"][0]["metrics"][gate.metric]
    assert math.isfinite(value)
    assert value >= gate.threshold if gate.higher_is_better else value <= gate.threshold
    if gate.metric in UNIT_INTERVAL:
        assert value <= 1.0
    if gate.metric == "auc":
        assert value > 0.5  # better than chance on rows it never trained on
    classes = schema.target.classes
    if classes and gate.metric in UNIT_INTERVAL:
        assert value > 1 / len(classes)  # better than guessing among the classes

    endpoint = summary["endpoint"]
    assert endpoint["requests_server_error"] == 0
    # Every tenth request of the probe is malformed on purpose (4xx); the rest are scored.
    assert endpoint["requests_ok"] == endpoint["requests"] - endpoint["requests"] // 10
    assert endpoint["capture_records"] >= endpoint["requests_ok"]
    windows = summary["monitoring"]["windows"]
    assert [w["ground_truth_labels"] for w in windows] == [w["requests_ok"] for w in windows]
    assert all(w["rows_analyzed"] > 0 for w in windows)
    if classes:  # every labelled window is scored: multiclass needs no two-class mix
        for window in windows:
            quality = window["model_quality"]
            assert quality["status"] == "ok" and math.isfinite(quality["metrics"][gate.metric])
    print(f"{case.name}: lifecycle in {summary['seconds']:.0f}s")
