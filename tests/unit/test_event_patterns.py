"""The local event-pattern matcher against the EventBridge user guide's examples.

Sources (EventBridge user guide; GitHub source awsdocs/amazon-eventbridge-user-guide):
- "Amazon EventBridge event patterns" (eb-event-patterns.html): the EC2 state-change
  event and pattern, field matching (null), value matching (nested fields), match values;
- "Arrays in Amazon EventBridge event patterns" (eb-event-patterns-arrays.html);
- "Content filtering in Amazon EventBridge event patterns"
  (eb-event-patterns-content-based-filtering.html): prefix, anything-but, numeric, cidr,
  exists and the complex example.
"""

from __future__ import annotations

import json

import pytest

from local.monitoring.event_patterns import (
    PatternError,
    matches,
    matching_rules,
    rule_patterns,
)

EC2_EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}
EC2_TERMINATIONS = {
    "source": ["aws.ec2"],
    "detail-type": ["EC2 Instance State-change Notification"],
    "detail": {"state": ["terminated"]},
}


def _with_detail(**detail) -> dict:
    return {**EC2_EVENT, "detail": detail}


def test_guides_ec2_example_and_its_negatives() -> None:
    assert matches(EC2_TERMINATIONS, EC2_EVENT)
    assert not matches(EC2_TERMINATIONS, _with_detail(state="running"))
    # Exact, character by character: no case folding.
    assert not matches(EC2_TERMINATIONS, _with_detail(state="Terminated"))
    # Every field named by the pattern must be in the event, at the same nesting.
    assert not matches(EC2_TERMINATIONS, {**EC2_EVENT, "detail": {}})
    assert not matches({"detail": {"state": ["terminated"]}}, {"state": "terminated"})


def test_match_values_are_alternatives() -> None:
    pattern = {"source": ["aws.ec2", "aws.fargate"]}
    assert matches(pattern, EC2_EVENT)
    assert matches(pattern, {**EC2_EVENT, "source": "aws.fargate"})
    assert not matches(pattern, {**EC2_EVENT, "source": "aws.s3"})


def test_field_matching_null_and_empty_string() -> None:
    event = {
        "source": "aws.autoscaling",
        "detail-type": "EC2 Instance Launch Successful",
        "detail": {"eventVersion": "", "responseElements": None},
    }
    pattern = {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Successful"],
        "detail": {"responseElements": [None]},
    }
    assert matches(pattern, event)
    assert matches({"detail": {"eventVersion": [""]}}, event)
    assert not matches({"detail": {"eventVersion": [None]}}, event)
    # null matches a JSON null, not an absent field.
    assert not matches({"detail": {"other": [None]}}, event)


def test_value_matching_nested_numbers() -> None:
    macie = {
        "source": "aws.macie",
        "detail-type": "Macie Alert",
        "detail": {"risk-score": 80, "trigger": {"risk": 8, "alert-type": "basic"}},
    }
    pattern = {
        "source": ["aws.macie"],
        "detail-type": ["Macie Alert"],
        "detail": {"risk-score": [80], "trigger": {"risk": [8]}},
    }
    assert matches(pattern, macie)
    assert not matches({**pattern, "detail": {"risk-score": [80], "trigger": {"risk": [9]}}}, macie)
    # "For numbers, EventBridge uses string representation": 300 and 300.0 differ.
    assert not matches({"detail": {"risk-score": [80.0]}}, macie)


def test_arrays_match_when_they_intersect() -> None:
    pattern = {
        "resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
        ]
    }
    event = {
        "resources": [
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-"
            "b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        ]
    }
    assert matches(pattern, event)
    assert not matches(pattern, {"resources": [event["resources"][0]]})


def test_prefix() -> None:
    pattern = {"time": [{"prefix": "2017-10-02"}]}
    assert matches(pattern, {"time": "2017-10-02T18:43:48Z"})
    assert not matches(pattern, {"time": "2017-10-03T18:43:48Z"})


@pytest.mark.parametrize(
    ("condition", "state", "expected"),
    [
        ({"anything-but": "initializing"}, "running", True),
        ({"anything-but": "initializing"}, "initializing", False),
        ({"anything-but": ["stopped", "overloaded"]}, "running", True),
        ({"anything-but": ["stopped", "overloaded"]}, "stopped", False),
        ({"anything-but": {"prefix": "init"}}, "running", True),
        ({"anything-but": {"prefix": "init"}}, "initializing", False),
    ],
)
def test_anything_but_strings(condition, state, expected) -> None:
    assert matches({"detail": {"state": [condition]}}, _with_detail(state=state)) is expected


def test_anything_but_numbers_and_absent_fields() -> None:
    assert matches({"detail": {"x-limit": [{"anything-but": 123}]}}, _with_detail(**{"x-limit": 5}))
    assert not matches(
        {"detail": {"x-limit": [{"anything-but": 123}]}}, _with_detail(**{"x-limit": 123})
    )
    lst = {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}
    assert matches(lst, _with_detail(**{"x-limit": 150}))
    assert not matches(lst, _with_detail(**{"x-limit": 200}))
    assert not matches(lst, _with_detail())  # an absent field is not "anything but"


def test_numeric() -> None:
    pattern = {
        "detail": {
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"numeric": ["=", 3.018e2]}],
        }
    }
    good = {"c-count": 5, "d-count": 9.5, "x-limit": 301.8}
    assert matches(pattern, _with_detail(**good))
    assert not matches(pattern, _with_detail(**{**good, "c-count": 0}))
    assert not matches(pattern, _with_detail(**{**good, "d-count": 10}))
    assert not matches(pattern, _with_detail(**{**good, "x-limit": 302}))
    assert not matches(pattern, _with_detail(**{**good, "c-count": "3"}))  # numbers only


def test_cidr() -> None:
    pattern = {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}
    assert matches(pattern, _with_detail(sourceIPAddress="10.0.0.24"))
    assert not matches(pattern, _with_detail(sourceIPAddress="10.0.1.1"))
    assert not matches(pattern, _with_detail(sourceIPAddress="not an ip"))


def test_exists_works_on_leaf_nodes_only() -> None:
    absent = {"detail": {"c-count": [{"exists": False}]}}
    first = {
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["initializing", "running"]},
    }
    assert matches(absent, first)
    # "also matches ... because c-count isn't a leaf node"
    second = {**first, "detail": {**first["detail"], "c-count": {"c1": 100}}}
    assert matches(absent, second)
    assert not matches(absent, {"detail": {"c-count": 3}})
    assert matches({"detail": {"c-count": [{"exists": True}]}}, {"detail": {"c-count": 3}})
    assert not matches({"detail": {"c-count": [{"exists": True}]}}, second)


def test_complex_example() -> None:
    pattern = {
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}],
        },
    }
    event = {
        "time": "2017-10-02T18:43:48Z",
        "detail": {"state": "running", "c-count": 3, "d-count": 1, "x-limit": 150},
    }
    assert matches(pattern, event)
    assert not matches(pattern, {**event, "detail": {**event["detail"], "x-limit": 300}})


def test_invalid_patterns_are_errors() -> None:
    with pytest.raises(PatternError, match="arrays or objects"):
        matches({"source": "aws.ec2"}, EC2_EVENT)
    with pytest.raises(PatternError, match="not supported"):
        matches({"source": [{"wildcard": "aws.*"}]}, EC2_EVENT)
    with pytest.raises(PatternError, match="non-empty"):
        matches({}, EC2_EVENT)


def test_rule_patterns_from_a_template(tmp_path) -> None:
    template = tmp_path / "Stack.template.json"
    template.write_text(
        json.dumps(
            {
                "Resources": {
                    "Terminations": {
                        "Type": "AWS::Events::Rule",
                        "Properties": {"EventPattern": EC2_TERMINATIONS},
                    },
                    "Hourly": {
                        "Type": "AWS::Events::Rule",
                        "Properties": {"ScheduleExpression": "rate(1 hour)"},
                    },
                }
            }
        )
    )
    patterns = rule_patterns([template])
    assert list(patterns) == ["Terminations"]
    assert matching_rules(EC2_EVENT, patterns) == ["Terminations"]
    template.write_text(
        json.dumps(
            {
                "Resources": {
                    "Dynamic": {
                        "Type": "AWS::Events::Rule",
                        "Properties": {"EventPattern": {"resources": [{"Ref": "Thing"}]}},
                    }
                }
            }
        )
    )
    with pytest.raises(PatternError, match="Dynamic"):
        rule_patterns([template])
