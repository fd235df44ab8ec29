"""The local pipeline interpreter on small hand-written definitions (no jobs run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.pipeline.pipeline_runtime import LocalPipeline, PipelineError, navigate


class _SageMaker:
    """Just enough of the SageMaker client for executions without jobs."""

    def start_pipeline_execution(self, **_: object) -> dict:
        return {"PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:1:pipeline/p/execution/e1"}


def _pipeline(steps: list[dict], parameters: list[dict] | None = None) -> LocalPipeline:
    definition = {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": steps}
    return LocalPipeline(
        definition,
        name="p",
        sagemaker=_SageMaker(),
        s3=None,
        work_dir=Path("no-job-runs-here"),
        env={},
    )


def _gate(threshold: float) -> list[dict]:
    return [
        {
            "Name": "Gate",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [
                    {
                        "Type": "GreaterThanOrEqualTo",
                        "LeftValue": {"Get": "Parameters.Score"},
                        "RightValue": threshold,
                    }
                ],
                "IfSteps": [],
                "ElseSteps": [
                    {
                        "Name": "Stop",
                        "Type": "Fail",
                        "Arguments": {
                            "ErrorMessage": {
                                "Std:Join": {
                                    "On": " ",
                                    "Values": [
                                        "score",
                                        {"Get": "Parameters.Score"},
                                        "in",
                                        {"Get": "Execution.PipelineExecutionId"},
                                    ],
                                }
                            }
                        },
                    }
                ],
            },
        }
    ]


SCORE = [{"Name": "Score", "Type": "Float", "DefaultValue": 0.5}]


def test_condition_picks_the_branch_and_fail_resolves_its_message() -> None:
    passed = _pipeline(_gate(0.4), SCORE).execute()
    assert passed.status == "Succeeded" and [s.name for s in passed.steps] == ["Gate"]
    failed = _pipeline(_gate(0.9), SCORE).execute()
    assert failed.status == "Failed"
    assert failed.failure_reason == "score 0.5 in e1"
    assert [s.name for s in failed.steps] == ["Gate", "Stop"]
    overridden = _pipeline(_gate(0.9), SCORE).execute({"Score": 0.95})
    assert overridden.status == "Succeeded"


def test_unknown_step_type_names_the_step() -> None:
    with pytest.raises(PipelineError, match="step Tune: unsupported step type 'Tuning'"):
        _pipeline([{"Name": "Tune", "Type": "Tuning", "Arguments": {}}]).execute()


def test_unresolvable_references_name_the_step() -> None:
    steps = _gate(0.5)
    steps[0]["Arguments"]["Conditions"][0]["LeftValue"] = {"Get": "Parameters.Missing"}
    with pytest.raises(PipelineError, match="step Gate: unknown parameter"):
        _pipeline(steps, SCORE).execute()
    with pytest.raises(PipelineError, match="unknown pipeline parameters"):
        _pipeline(_gate(0.5), SCORE).execute({"Nope": 1})


def test_dependency_on_a_missing_step_is_an_error() -> None:
    steps = [
        {"Name": "Stop", "Type": "Fail", "DependsOn": ["Ghost"], "Arguments": {"ErrorMessage": "x"}}
    ]
    with pytest.raises(PipelineError, match=r"step Stop: depends on \['Ghost'\]"):
        _pipeline(steps).execute()


def test_navigate_follows_named_items_and_indexes() -> None:
    described = {
        "Outputs": [
            {"OutputName": "a", "S3Uri": "s3://x/a"},
            {"OutputName": "b", "S3Uri": "s3://x/b"},
        ]
    }
    assert navigate(described, "Outputs['b'].S3Uri", what="t") == "s3://x/b"
    assert navigate(described, "Outputs[0].S3Uri", what="t") == "s3://x/a"
    with pytest.raises(PipelineError, match="no item named 'c'"):
        navigate(described, "Outputs['c'].S3Uri", what="t")


def test_a_step_whose_call_fails_ends_the_execution_as_failed() -> None:
    class _Refusing(_SageMaker):
        def create_model_package(self, **_: object) -> dict:
            raise RuntimeError("ValidationException: group does not exist")

    steps = [{"Name": "Register", "Type": "RegisterModel", "Arguments": {"X": "y"}}]
    pipeline = _pipeline(steps)
    pipeline.sagemaker = _Refusing()
    execution = pipeline.execute()
    assert execution.status == "Failed"
    assert "step Register failed: ValidationException" in execution.failure_reason
    assert execution.steps[0].status == "Failed"


def test_boolean_parameters_parse_false() -> None:
    flag = [{"Name": "Flag", "Type": "Boolean", "DefaultValue": False}]
    steps = [
        {
            "Name": "Gate",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [
                    {"Type": "Equals", "LeftValue": {"Get": "Parameters.Flag"}, "RightValue": False}
                ],
                "IfSteps": [],
                "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}],
            },
        }
    ]
    assert _pipeline(steps, flag).execute({"Flag": "false"}).status == "Succeeded"
    assert _pipeline(steps, flag).execute({"Flag": "true"}).status == "Failed"
