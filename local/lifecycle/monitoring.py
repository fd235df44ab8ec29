"""Steps 7 to 10: traffic to v1 (shifted, or the user's held-out rows) -> the monitor job
per window -> the drift alarm -> the synthesized rule -> the retrain handler -> v2, then
v1 vs v2 and the same alarm event again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.image.container import describe_runtime
from local.lifecycle.steps import HOLDOUT_ROWS, STEPS, UserTraffic, fail_on, step, write_summary
from local.monitoring.alarms import ALARM
from local.monitoring.glue_events import state_change_event
from local.monitoring.loop import (
    COOLDOWN_OVERRIDE,
    CURATED_JOB,
    EVENT_LABEL,
    LoopState,
    MonitoringLoop,
)
from local.monitoring.retrain_function import LABEL as DELIVERY_LABEL
from local.monitoring.shifted_traffic import default_shift
from local.pipeline.pipeline_runtime import Execution
from local.pipeline.training_run import TrainingRun
from local.report import print_comparison, print_traffic, print_window
from local.serving.serving import RunningEndpoint


@dataclass(frozen=True)
class Delivery:
    """Step 8: the rules the alarm event matched, the handler's cooldown and decision."""

    rules: list[str]
    cooldown_minutes: dict[str, Any]
    decision: dict[str, Any]


@dataclass(frozen=True)
class Retraining:
    """Step 9: the feedback put through the Glue jobs and the execution that trained v2."""

    feedback: dict[str, Any]
    execution: Execution


@dataclass(frozen=True)
class Comparison:
    """Step 10: v1 and v2 scored on the same held-out rows; the repeated event's outcome."""

    scores: dict[str, Any]
    duplicate: dict[str, Any]


def send_windows(
    loop: MonitoringLoop,
    v1: RunningEndpoint,
    state: LoopState,
    *,
    window_rows: int,
    traffic: UserTraffic | None,
) -> list[dict[str, Any]]:
    """Step 7: each window's traffic and ground truth to v1 (served since step 6), then
    the monitor job on it."""
    print_traffic(state.shift, traffic is not None)
    windows: list[dict[str, Any]] = []
    for window in (1, 2):
        sent = loop.send_window(
            v1.host,
            v1.port,
            state,
            window=window,
            rows=window_rows,
            frame=None if traffic is None else traffic.part(window - 1),
        )
        run = loop.run_monitor(state)
        for restamp in loop.restamp_earlier_runs(state):
            print(
                f"      LOCAL time shift: {restamp['job']}'s published "
                f"{loop.drift_alarm.metric_name}={restamp['value']:g} "
                f"(at {restamp['published_at'][11:19]}) also put at its scheduled "
                f"slot {restamp['slot'][11:19]}, one {loop.drift_alarm.period}s "
                "period before this run",
                flush=True,
            )
        transition = loop.evaluate_alarm(state)
        record = {
            **sent,
            "monitor_job": run.job_name,
            "rows_analyzed": run.summary["rows_analyzed"],
            "features_drifted": run.summary["features_drifted"],
            "model_quality": run.summary["model_quality"],
            "bias_drift": run.summary.get("bias_drift"),
            "attribution_drift": run.summary.get("attribution_drift"),
            "feedback": run.summary["feedback"],
            "report": str(run.report),
            "report_uri": run.report_uri,
            "alarm_state": transition.current.value,
        }
        print_window(window, record, transition.describe())
        windows.append(record)
    return windows


def last_run(state: LoopState) -> dict[str, Any]:
    """The monitor's last run and the alarm's transitions, as the summary records them."""
    last = state.runs[-1]
    transition = state.transitions[-1]
    return {
        "drifted_features": last.summary["features_drifted"],
        "report": str(last.report),
        "report_uri": last.report_uri,
        "restamped": state.restamped,
        "alarm": {
            "name": transition.alarm.name,
            "transitions": [f"{t.previous.value} -> {t.current.value}" for t in state.transitions],
            "state": transition.current.value,
            "reason": transition.current.reason,
        },
        "runtime": last.runtime,
    }


def deliver(loop: MonitoringLoop, state: LoopState, event: dict[str, Any]) -> Delivery:
    """Step 8: the alarm event against the synthesized rules, then the retrain handler."""
    rules = loop.matching_rules(event)
    print(f"      {EVENT_LABEL} alarm event matches: {', '.join(rules) or 'no rule'}")
    if not rules:
        raise SystemExit("no synthesized rule matches the alarm's state-change event")
    print(
        f"      LOCAL time shift: the handler runs with COOLDOWN_MINUTES="
        f"{COOLDOWN_OVERRIDE['COOLDOWN_MINUTES']} (synthesized: "
        f"{loop.synthesized_cooldown()}); v1 was trained minutes ago, not hours",
        flush=True,
    )
    cooldown = {
        "synthesized": loop.synthesized_cooldown(),
        "local": COOLDOWN_OVERRIDE["COOLDOWN_MINUTES"],
    }
    state.handler = loop.trigger()
    decision = loop.invoke_trigger(event, state.handler, loop.work_dir / "retrain-trigger.log")
    return Delivery(rules, cooldown, decision)


def retrain(
    loop: MonitoringLoop, state: LoopState, out: Path, summary: dict[str, Any]
) -> Retraining:
    """Step 9: the monitor's feedback into curated; the curated job's success event ->
    synthesized rule -> the retrain handler starts the execution; then run it."""
    processed, curated, run_id = loop.feedback_to_curated()
    rows = sum(c.input_rows for c in processed)
    valid = sum(c.valid_rows for c in processed)
    feedback: dict[str, Any] = {
        "batches": len(processed),
        "rows": rows,
        "valid_rows": valid,
        "curated_rows": curated.curated_rows,
    }
    print(
        f"      feedback: {len(processed)} batch(es), {rows} rows ({valid} valid) -> "
        f"curated now {curated.curated_rows} rows",
        flush=True,
    )
    event = state_change_event(CURATED_JOB, run_id)
    rules = loop.matching_rules(event)
    print(
        f"      {EVENT_LABEL} curated job's success event matches: {', '.join(rules) or 'no rule'}"
    )
    decision = loop.invoke_trigger(event, state.handler, loop.work_dir / "retrain-trigger.log")
    print(f"      {DELIVERY_LABEL} handler decision: {decision['decision']} ({decision['reason']})")
    feedback["curated_run"] = run_id
    feedback["decision"] = decision
    if decision["decision"] != "started":
        write_summary(out, summary)
        raise SystemExit(f"the curated job's success did not start the retraining: {decision}")
    return Retraining(feedback, loop.run_started_execution(decision["execution_arn"]))


def compare_and_repeat(
    loop: MonitoringLoop,
    state: LoopState,
    event: dict[str, Any],
    versions: dict[int, str],
    traffic: UserTraffic | None,
) -> Comparison:
    """Step 10: v1 vs v2 on the same held-out rows; the same alarm event sent again."""
    scores = loop.score_on_holdout(
        versions, state, HOLDOUT_ROWS, frame=None if traffic is None else traffic.part(2)
    )
    before = loop.executions()
    again = loop.invoke_trigger(event, state.handler, loop.work_dir / "retrain-trigger.log")
    duplicate = {
        "duplicate": bool(again.get("duplicate")),
        "decision": again.get("decision"),
        "new_executions": loop.executions() - before,
    }
    return Comparison(scores, duplicate)


def monitor_and_retrain(
    loop: MonitoringLoop,
    v1: RunningEndpoint,
    v1_arn: str,
    out: Path,
    summary: dict[str, Any],
    *,
    window_rows: int,
    traffic: UserTraffic | None = None,
) -> None:
    """Steps 7 to 10: shifted traffic (or the user's held-out rows) -> monitor -> alarm
    -> rule -> handler -> v2."""
    state = LoopState(shift={} if traffic is not None else default_shift(loop.schema))
    section: dict[str, Any] = {"shift": state.shift, "windows": []}
    summary["monitoring"] = section
    windows, seconds = step(
        7,
        f"{'Shifted' if traffic is None else 'Held-out'} traffic + ground truth to v1; "
        "the scheduled monitor job on each window",
        lambda: send_windows(loop, v1, state, window_rows=window_rows, traffic=traffic),
    )
    section["windows"] = windows
    summary["steps"]["monitor"] = round(seconds, 2)
    section.update(last_run(state))
    print(f"      monitor job in the image: {describe_runtime(section['runtime'])}")
    print(f"      monitor report: {section['report']} ({section['report_uri']})")
    transition = state.transitions[-1]
    if traffic is not None and (transition.current.value != ALARM or transition.event is None):
        section["retrain"] = {"decision": "not_triggered", "alarm": transition.current.value}
        print(
            f"[8-10/{STEPS}] no retrain: the drift alarm is {transition.current.value} on your "
            "held-out rows (nothing was shifted), so no alarm event reached the handler",
            flush=True,
        )
        return
    if transition.current.value != ALARM or transition.event is None:
        write_summary(out, summary)
        raise SystemExit(f"the drift alarm did not go to ALARM: {transition.describe()}")
    retrain_on_alarm(loop, state, transition.event, out, summary, traffic=traffic)


def retrain_on_alarm(
    loop: MonitoringLoop,
    state: LoopState,
    event: dict[str, Any],
    out: Path,
    summary: dict[str, Any],
    *,
    traffic: UserTraffic | None,
) -> None:
    """Steps 8 to 10: the alarm event -> rule -> handler -> v2; v1 vs v2; the event again."""
    section = summary["monitoring"]
    delivery, seconds = step(
        8,
        "Alarm event -> synthesized rule -> the retrain handler on moto",
        lambda: deliver(loop, state, event),
    )
    summary["steps"]["retrain_trigger"] = round(seconds, 2)
    section["rule_matches"] = delivery.rules
    section["cooldown_minutes"] = delivery.cooldown_minutes
    decision = section["retrain"] = delivery.decision
    print(f"      {DELIVERY_LABEL} handler decision: {decision['decision']} ({decision['reason']})")
    if decision["decision"] != "waiting_for_curated" or loop.executions() != 1:
        write_summary(out, summary)
        raise SystemExit(
            f"the retrain handler should wait for the feedback to reach curated: {decision}"
        )

    retraining, seconds = step(
        9,
        "Feedback through the Glue jobs; their success starts the retraining; run it",
        lambda: retrain(loop, state, out, summary),
    )
    section["feedback"] = retraining.feedback
    summary["steps"]["retrain_pipeline"] = round(seconds, 2)
    execution = retraining.execution
    retrain_run = TrainingRun(pipeline_name=loop.platform.pipeline_name, executions=[execution])
    summary["pipeline"] += retrain_run.execution_summary()
    if traffic is not None and any(r.type == "Fail" for r in execution.steps):
        # On the user's unshifted data v2 need not beat v1: the gate's verdict is the result.
        section["v2"] = {"registered": False, "reason": execution.failure_reason}
        print(f"      v2 not registered, the quality gate said: {execution.failure_reason}")
        return
    fail_on(execution, out, summary)
    packages = loop.platform.model_packages()
    summary["model_packages"] = packages
    v2 = next(p for p in packages if p["arn"] == execution.model_package_arn)
    section["v2"] = {k: v2[k] for k in ("arn", "version", "approval_status", "metrics")}
    print(f"      registered model v{v2['version']} ({v2['approval_status']})")

    versions = {
        p["version"]: p["model_data"] for p in packages if p["version"] in (1, v2["version"])
    }
    comparison, seconds = step(
        10,
        "v1 vs v2 on held-out shifted rows; the same alarm event again",
        lambda: compare_and_repeat(loop, state, event, versions, traffic),
    )
    summary["steps"]["compare"] = round(seconds, 2)
    section["holdout_metrics"] = comparison.scores
    section["duplicate"] = comparison.duplicate
    print_comparison(comparison.scores, v2["version"], comparison.duplicate)
