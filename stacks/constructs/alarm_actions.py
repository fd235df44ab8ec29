"""Every alarm notifies someone: the stage's topic as the action of each alarm."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns


def notify_on_every_alarm(stacks: Iterable[Stack], topic: sns.ITopic) -> int:
    """Add ``topic`` as the ALARM and OK action of every alarm in ``stacks`` (OK too, so
    whoever was paged hears when it clears). Returns how many alarms it covered.

    Run once, after the stage's stacks are built, so alarms any construct created
    (libraries' included) are covered without each construct having to remember.
    """
    action = actions.SnsAction(topic)
    covered = 0
    for stack in stacks:
        for node in stack.node.find_all():
            if isinstance(node, cloudwatch.Alarm):
                node.add_alarm_action(action)
                node.add_ok_action(action)
                covered += 1
            elif isinstance(node, cloudwatch.CfnAlarm) and not isinstance(
                node.node.scope, cloudwatch.Alarm
            ):
                # A bare L1 alarm (no L2 around it): set its actions directly.
                node.alarm_actions = [topic.topic_arn]
                node.ok_actions = [topic.topic_arn]
                covered += 1
    return covered
