"""LOCAL STAND-IN for an alarm's SNS actions: moto runs no alarm action, so the local
runtime publishes what CloudWatch would when an alarm changes state (the JSON message
the CloudWatch user guide shows for alarm notifications), to the actions the synthesized
template gives the alarm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.cdk_assembly import StageAssembly
from local.monitoring.alarms import ALARM, OK, Transition

LABEL = "[local stand-in: CloudWatch alarm actions -> SNS]"


def alarm_actions(cdk_out: Path, stage: str) -> dict[str, dict[str, list[str]]]:
    """Alarm name -> {"ALARM": topic ARNs, "OK": topic ARNs}, for every alarm of the stage,
    resolved with the assembly's local names."""
    assembly = StageAssembly(cdk_out, stage)
    actions: dict[str, dict[str, list[str]]] = {}
    for stack in assembly.paths:
        for resource in assembly.resources(stack, "AWS::CloudWatch::Alarm").values():
            properties = assembly.resolve(resource["Properties"], stack)
            actions[properties["AlarmName"]] = {
                ALARM: list(properties.get("AlarmActions", [])),
                OK: list(properties.get("OKActions", [])),
            }
    return actions


def notify(sns: Any, transition: Transition, topics: list[str]) -> list[str]:
    """Publish ``transition``'s notification to ``topics`` if the state changed; returns
    the message ids."""
    if not transition.changed:
        return []
    message = {
        "AlarmName": transition.alarm.name,
        "AlarmDescription": transition.alarm.description,
        "NewStateValue": transition.current.value,
        "NewStateReason": transition.current.reason,
        "OldStateValue": transition.previous.value,
        "StateChangeTime": transition.current.timestamp.isoformat(),
    }
    return [
        sns.publish(
            TopicArn=topic,
            Subject=f'{transition.current.value}: "{transition.alarm.name}"'[:100],
            Message=json.dumps(message),
        )["MessageId"]
        for topic in topics
    ]
