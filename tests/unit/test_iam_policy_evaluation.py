"""The LOCAL stand-in for IAM policy evaluation, on the examples of AWS's IAM User Guide
("Policy evaluation logic", "IAM JSON policy elements: Condition operators",
"Conditions with multiple context keys or values", "NotAction")."""

from __future__ import annotations

import pytest

from local.iam.policy_evaluation import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    PolicyError,
    Request,
    evaluate,
    granted_actions,
)


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _effect(policy: dict, action: str, resource: str = "*", **context: list[str]) -> str:
    keys = {k.replace("__", ":").replace("_", "/"): v for k, v in context.items()}
    return evaluate([policy], Request(action, resource, keys)).effect


def test_an_explicit_deny_overrides_any_allow_and_silence_denies() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    )
    assert _effect(policy, "s3:GetObject", "arn:aws:s3:::b/k") == ALLOW
    decision = evaluate([policy], Request("s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert (decision.effect, decision.statements) == (EXPLICIT_DENY, ("NoDelete",))
    assert _effect(policy, "sqs:SendMessage") == IMPLICIT_DENY


def test_not_action_allows_everything_but_the_listed_service() -> None:
    # The guide's NotAction example: everything except IAM.
    policy = _policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert _effect(policy, "s3:ListBucket", "arn:aws:s3:::b") == ALLOW
    assert _effect(policy, "iam:CreateUser", "arn:aws:iam::111122223333:user/x") == IMPLICIT_DENY


def test_actions_match_case_insensitively_resources_case_sensitively() -> None:
    policy = _policy({"Effect": "Allow", "Action": "s3:get*", "Resource": "arn:aws:s3:::b/data/*"})
    assert _effect(policy, "s3:GetObject", "arn:aws:s3:::b/data/x.csv") == ALLOW
    assert _effect(policy, "s3:GetObject", "arn:aws:s3:::b/Data/x.csv") == IMPLICIT_DENY
    assert _effect(policy, "s3:GetObject", "arn:aws:s3:::b/dat?/x") == IMPLICIT_DENY
    single = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/?"})
    assert _effect(single, "s3:GetObject", "arn:aws:s3:::b/a") == ALLOW
    assert _effect(single, "s3:GetObject", "arn:aws:s3:::b/ab") == IMPLICIT_DENY


def test_string_equals_on_a_key_the_request_lacks_is_false() -> None:
    # The guide's aws:PrincipalTag/job-category example.
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "iam:*AccessKey*",
            "Resource": "arn:aws:iam::111122223333:user/*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
        }
    )
    user = "arn:aws:iam::111122223333:user/Bob"
    context = {"aws:PrincipalTag/job-category": ["iamuser-admin"]}
    assert evaluate([policy], Request("iam:CreateAccessKey", user, context)).allowed
    assert _effect(policy, "iam:CreateAccessKey", user) == IMPLICIT_DENY
    other = {"aws:principaltag/JOB-CATEGORY": ["dev"]}  # key names are case-insensitive
    assert not evaluate([policy], Request("iam:CreateAccessKey", user, other)).allowed


def test_string_like_values_or_together_and_wildcards_match() -> None:
    # The S3 guide's ListBucket-with-prefix pattern.
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
            "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/David/*"]}},
        }
    )
    bucket = "arn:aws:s3:::amzn-s3-demo-bucket"
    for prefix, effect in [
        ("", ALLOW),
        ("home/", ALLOW),
        ("home/David/photos/", ALLOW),
        ("home/Alice/", IMPLICIT_DENY),
    ]:
        assert (
            evaluate([policy], Request("s3:ListBucket", bucket, {"s3:prefix": [prefix]})).effect
            == effect
        )
    assert _effect(policy, "s3:ListBucket", bucket) == IMPLICIT_DENY


def test_negated_operators_hold_when_the_key_is_absent_and_nor_their_values() -> None:
    policy = _policy(
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ["111", "222"]}},
        },
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    )
    assert _effect(policy, "s3:GetObject") == EXPLICIT_DENY  # key absent: condition true
    for account, effect in [("111", ALLOW), ("222", ALLOW), ("333", EXPLICIT_DENY)]:
        request = Request("s3:GetObject", "*", {"aws:PrincipalAccount": [account]})
        assert evaluate([policy], request).effect == effect


def test_if_exists_passes_an_absent_key_and_checks_a_present_one() -> None:
    # The guide's ...IfExists example on ec2:InstanceType.
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
        }
    )
    assert _effect(policy, "ec2:RunInstances") == ALLOW
    allowed = Request("ec2:RunInstances", "*", {"ec2:InstanceType": ["t2.micro"]})
    refused = Request("ec2:RunInstances", "*", {"ec2:InstanceType": ["m5.large"]})
    assert evaluate([policy], allowed).allowed
    assert not evaluate([policy], refused).allowed


def test_null_checks_presence_and_bool_compares() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {
            "Sid": "TemporaryCredentialsOnly",
            "Effect": "Deny",
            "Action": "ec2:*",
            "Resource": "*",
            "Condition": {"Null": {"aws:TokenIssueTime": "true"}},
        },
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    assert _effect(policy, "ec2:StopInstances") == EXPLICIT_DENY
    temporary = {"aws:TokenIssueTime": ["2026-01-01T00:00:00Z"], "aws:SecureTransport": ["true"]}
    assert evaluate([policy], Request("ec2:StopInstances", "*", temporary)).allowed
    plain = {**temporary, "aws:SecureTransport": ["false"]}
    assert evaluate([policy], Request("ec2:StopInstances", "*", plain)).statements == ("TlsOnly",)


def test_arn_like_matches_each_arn_field_on_its_own() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:111:*"}},
        }
    )

    def source(arn: str) -> Request:
        return Request("sns:Publish", "*", {"aws:SourceArn": [arn]})

    assert evaluate([policy], source("arn:aws:sagemaker:us-east-1:111:processing-job/x")).allowed
    assert not evaluate(
        [policy], source("arn:aws:sagemaker:us-east-1:222:processing-job/x")
    ).allowed
    assert not evaluate([policy], source("arn:aws:sagemaker:us-east-1")).allowed


def test_set_operators_on_multivalued_keys() -> None:
    # The guide's aws:TagKeys examples: ForAllValues holds when the key is absent.
    all_of = _policy(
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}
            },
        }
    )
    any_of = _policy(
        {
            **all_of["Statement"][0],
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment"]}},
        }
    )
    assert _effect(all_of, "ec2:CreateTags") == ALLOW
    assert _effect(any_of, "ec2:CreateTags") == IMPLICIT_DENY
    both = Request("ec2:CreateTags", "*", {"aws:TagKeys": ["environment", "cost-center"]})
    extra = Request("ec2:CreateTags", "*", {"aws:TagKeys": ["environment", "owner"]})
    assert evaluate([all_of], both).allowed and not evaluate([all_of], extra).allowed
    assert evaluate([any_of], extra).allowed


def test_conditions_on_several_operators_and_keys_all_must_hold() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": ["A", "B"]},
                "Bool": {"aws:SecureTransport": "true"},
            },
        }
    )
    both = {"cloudwatch:namespace": ["B"], "aws:SecureTransport": ["true"]}
    assert evaluate([policy], Request("cloudwatch:PutMetricData", "*", both)).allowed
    one = {"cloudwatch:namespace": ["B"]}
    assert not evaluate([policy], Request("cloudwatch:PutMetricData", "*", one)).allowed


def test_what_is_not_modelled_is_an_error_not_a_match() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        }
    )
    with pytest.raises(PolicyError, match="IpAddress"):
        evaluate([policy], Request("s3:GetObject", "*", {"aws:SourceIp": ["203.0.113.1"]}))
    variable = _policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}
    )
    with pytest.raises(PolicyError, match="policy variables"):
        evaluate([variable], Request("s3:GetObject", "arn:aws:s3:::b/x"))
    with pytest.raises(PolicyError, match="NotAction"):
        granted_actions([_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})])
