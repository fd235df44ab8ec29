"""One synth (with cdk-nag and cfn-lint) per app configuration per test run.

A whole-app synth costs minutes, so each configuration the collected tests need is
synthesized once and shared: by every test of a plain run, and by every worker of a
``pytest -n`` run (pytest-xdist), through a folder all workers of the run share. A
worker that needs a configuration another worker is synthesizing uses the wait to
synthesize one the run still needs, so the synths spread over the cores. cfn-lint runs
once per distinct template: most stacks come out byte-identical in every configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from config.schema import DEFAULT_DATASET, dataset_names

if TYPE_CHECKING:
    from local.synth_check import SynthReport

MODEL_PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn/1"
CONNECTION = "arn:aws:codeconnections:us-east-1:111111111111:connection/abc-123"
DELIVERY_CONTEXT: dict[str, object] = {
    "delivery_connection_arn": CONNECTION,
    "delivery_repository": "acme/mlops-platform",
    "delivery_branch": "main",
}
PROD_ACCOUNT = "222222222222"

# Configuration name -> the extra context (`cdk synth -c ...`) of the app it synthesizes:
# a session fixture of tests/conftest.py each, and one per shipped dataset other than the
# default (``dataset_configuration``). Slowest first: they are the ones worth starting
# while another worker synthesizes.
CONFIGURATIONS: dict[str, dict[str, object]] = {
    "delivery_two_accounts": {**DELIVERY_CONTEXT, "prod_account": PROD_ACCOUNT},
    "delivery_one_account": DELIVERY_CONTEXT,
    **{
        f"dataset_{name}": {**DELIVERY_CONTEXT, "dataset": name}
        for name in dataset_names()
        if name != DEFAULT_DATASET
    },
    "synth_report_with_arn": {"model_package_arn": MODEL_PACKAGE_ARN},
    "synth_report_dev_serverless": {"dev_serverless": "true"},
    "synth_report_vpc": {"vpc": "new"},
    "synth_report": {},
}
PATH = "<template path>"
# A worker that died mid-synth leaves its claim behind: fail rather than wait forever.
WAIT_SECONDS = 30 * 60


def dataset_configuration(dataset: str) -> str:
    """The configuration that is the whole app for ``dataset`` (`-c dataset=<name>`),
    with the Delivery stack: the stages are built the same with or without it (app.py
    adds it beside them), and the Delivery stack is where the dataset is repeated."""
    return "delivery_one_account" if dataset == DEFAULT_DATASET else f"dataset_{dataset}"


def copy_report(report: SynthReport, outdir: Path) -> SynthReport:
    """``report``'s assembly copied to ``outdir`` (a run writes beside its cdk.out, the
    shared one stays as synthesized), with the same findings."""
    from local.synth_check import SynthReport

    shutil.copytree(report.assembly_dir, outdir)
    return SynthReport(
        assembly_dir=outdir,
        templates=[outdir / p.relative_to(report.assembly_dir) for p in report.templates],
        nag_failures=list(report.nag_failures),
        lint_findings=list(report.lint_findings),
    )


class SynthCache:
    """The synth reports of this run, built on first use under ``root``."""

    def __init__(self, root: Path, needed: Iterable[str] = ()) -> None:
        self.root = root
        self.needed = [name for name in CONFIGURATIONS if name in set(needed)]
        self._memo: dict[str, SynthReport] = {}

    def report(self, name: str) -> SynthReport:
        """The report of configuration ``name``, synthesizing it unless done or under way."""
        if name in self._memo:
            return self._memo[name]
        deadline = time.monotonic() + WAIT_SECONDS
        while (report := self._load(name)) is None:
            if self._claim(name):
                report = self._build(name)
                break
            # Another worker is synthesizing it: build one the run needs meanwhile.
            other = next((n for n in self.needed if n != name and self._claim(n)), None)
            if other is not None:
                self._build(other)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"no worker finished synthesizing {name!r}")
            else:
                time.sleep(1)
        self._memo[name] = report
        return report

    def _claim(self, name: str) -> bool:
        return claim(self.root, name)

    def _build(self, name: str) -> SynthReport:
        # Imported here: the CDK starts its Node runtime on import; unit runs need none.
        from local.synth_check import synth_and_check

        done = self.root / f"{name}.json"
        try:
            report = synth_and_check(
                self.root / f"{name}.out", CONFIGURATIONS[name], lint=self._lint_once
            )
        except BaseException:
            write_atomically(done, json.dumps({"error": traceback.format_exc()}))
            raise
        write_atomically(
            done,
            json.dumps(
                {
                    "assembly_dir": str(report.assembly_dir),
                    "templates": [str(p) for p in report.templates],
                    "nag_failures": report.nag_failures,
                    "lint_findings": report.lint_findings,
                }
            ),
        )
        self._memo[name] = report
        return report

    def _lint_once(self, template: Path) -> list[str]:
        """cfn-lint's findings for ``template``, computed once per distinct content (the
        findings name the file: they are stored with the path as a placeholder)."""
        from local.synth_check import lint_template

        content = hashlib.sha256(template.read_bytes()).hexdigest()
        saved = self.root / "lint" / f"{template.name}.{content}.json"
        if saved.exists():
            lines: list[str] = json.loads(saved.read_text())
        else:
            lines = [line.replace(str(template), PATH) for line in lint_template(template)]
            saved.parent.mkdir(exist_ok=True)
            write_atomically(saved, json.dumps(lines))
        return [line.replace(PATH, str(template)) for line in lines]

    def _load(self, name: str) -> SynthReport | None:
        if name in self._memo:
            return self._memo[name]
        done = self.root / f"{name}.json"
        if not done.exists():
            return None
        saved = json.loads(done.read_text())
        from local.synth_check import SynthReport

        if "error" in saved:
            raise RuntimeError(f"synthesizing {name!r} failed in another worker:\n{saved['error']}")
        return SynthReport(
            assembly_dir=Path(saved["assembly_dir"]),
            templates=[Path(p) for p in saved["templates"]],
            nag_failures=saved["nag_failures"],
            lint_findings=saved["lint_findings"],
        )


def claim(root: Path, name: str) -> bool:
    """Whether this worker is the one to build ``name`` (the first to create its claim)."""
    try:
        os.close(os.open(root / f"{name}.claim", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def write_atomically(path: Path, text: str) -> None:
    """Readers (other workers) see the whole file or none of it."""
    descriptor, partial = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.replace(partial, path)
