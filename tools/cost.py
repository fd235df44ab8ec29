"""``make cost``: price each synthesized stage from its templates in cdk.out.

    python -m tools.cost [--cdk-out cdk.out] [--prices tools/prices-us-east-1.json]

Per stage: the idle cost per month, one retraining, one ETL run and one monitor run,
from what the templates deploy and the dated price table; docs/cost.md explains the
model, its assumed durations and its limits.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cdk_assembly import AssemblyError, StageAssembly, resolve, stage_names

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "tools" / "prices-us-east-1.json"


class CostError(RuntimeError):
    """The assembly names something the price table cannot price."""


@dataclass(frozen=True)
class Line:
    """One priced item: what, how it was computed, and dollars."""

    item: str
    basis: str
    dollars: float


@dataclass
class StageCost:
    stage: str
    idle: list[Line] = field(default_factory=list)
    retrain: list[Line] = field(default_factory=list)
    etl_run: list[Line] = field(default_factory=list)
    monitor_run: list[Line] = field(default_factory=list)

    @staticmethod
    def total(lines: list[Line]) -> float:
        return round(sum(line.dollars for line in lines), 2)


def _price(table: dict[str, float], key: str, what: str) -> float:
    if key not in table:
        raise CostError(f"no price for {what} {key!r} in the price table")
    return table[key]


def _endpoint_lines(resources: list[tuple[str, dict[str, Any]]], p: dict[str, Any]) -> list[Line]:
    hours = p["hours_per_month"]
    minimum = {
        r["Properties"]["ResourceId"].split("/")[1]: r["Properties"]["MinCapacity"]
        for _, r in resources
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        and r["Properties"].get("ServiceNamespace") == "sagemaker"
    }
    endpoint_names = [
        r["Properties"].get("EndpointName", lid)
        for lid, r in resources
        if r["Type"] == "AWS::SageMaker::Endpoint"
    ]
    lines = []
    for _, resource in resources:
        if resource["Type"] != "AWS::SageMaker::EndpointConfig":
            continue
        name = endpoint_names[0] if len(endpoint_names) == 1 else "endpoint"
        for variant in resource["Properties"]["ProductionVariants"]:
            if "ServerlessConfig" in variant:
                lines.append(Line(f"endpoint {name} (serverless)", "no instance while idle", 0.0))
                continue
            instance = variant["InstanceType"]
            count = minimum.get(name, variant["InitialInstanceCount"])
            rate = _price(p["sagemaker_hosting_per_hour"], instance, "hosting instance")
            lines.append(
                Line(
                    f"endpoint {name}",
                    f"{count} x {instance} x {hours} h x ${rate}/h",
                    count * rate * hours,
                )
            )
    return lines


def _schedule_runs_per_month(expression: str) -> float:
    """Runs a month of an EventBridge Scheduler ``rate()`` or weekly/daily ``cron()``."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        every = int(rate.group(1)) * {"m": 1 / 60, "h": 1, "d": 24}[rate.group(2)[0]]
        return 730 / every
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if cron:
        day_of_month, day_of_week = cron.group(3), cron.group(5)
        if day_of_week not in ("?", "*"):
            return 730 / 24 / 7 * len(day_of_week.split(","))  # runs per week, scaled
        if day_of_month not in ("?", "*"):
            return len(day_of_month.split(","))
        return 730 / 24  # daily
    raise CostError(f"cannot count the runs of schedule {expression!r}")


def _pipeline_steps(resources: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    for lid, resource in resources:
        # The training pipeline (a retraining's cost), not the batch scoring one.
        if resource["Type"] != "AWS::SageMaker::Pipeline" or not lid.startswith("TrainingPipeline"):
            continue
        # Deploy-time values stay tokens: the prices depend on literals and parameters.
        body = resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
        definition: dict[str, Any] = json.loads(resolve(body, lenient=True))
        defaults = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}

        def value(node: Any, defaults: dict[str, Any] = defaults) -> Any:
            if isinstance(node, dict) and str(node.get("Get", "")).startswith("Parameters."):
                return defaults[node["Get"].split(".", 1)[1]]
            return node

        steps = []
        for step in definition["Steps"]:
            arguments = step.get("Arguments", {})
            if step["Type"] == "Processing":
                cluster = arguments["ProcessingResources"]["ClusterConfig"]
                steps.append(
                    {
                        "name": step["Name"],
                        "kind": "processing",
                        "instance": value(cluster["InstanceType"]),
                        "count": value(cluster["InstanceCount"]),
                    }
                )
            elif step["Type"] == "Training":
                config = arguments["ResourceConfig"]
                steps.append(
                    {
                        "name": step["Name"],
                        "kind": "training",
                        "instance": value(config["InstanceType"]),
                        "count": value(config["InstanceCount"]),
                        "spot": bool(arguments.get("EnableManagedSpotTraining")),
                    }
                )
        return steps
    return []


def _retrain_lines(steps: list[dict[str, Any]], p: dict[str, Any]) -> list[Line]:
    assumed = p["assumptions"]
    lines = []
    for step in steps:
        if step["kind"] == "processing":
            rate = _price(p["sagemaker_processing_per_hour"], step["instance"], "processing")
            hours = assumed["processing_step_hours"]
            discount = 0.0
        else:
            rate = _price(p["sagemaker_training_per_hour"], step["instance"], "training")
            hours = assumed["training_step_hours"]
            discount = assumed["spot_training_discount"] if step.get("spot") else 0.0
        spot = " (spot, priced on demand)" if step.get("spot") and not discount else ""
        lines.append(
            Line(
                f"step {step['name']}{spot}",
                f"{step['count']} x {step['instance']} x {hours} h (assumed) x ${rate}/h",
                step["count"] * hours * rate * (1 - discount),
            )
        )
    return lines


def _job_instance(document: Any) -> str | None:
    """The instance type of a processing job request inside ``document`` (any JSON)."""
    found = re.search(r'\\?"InstanceType\\?":\s*\\?"(ml\.[\w.]+)', json.dumps(document))
    return found.group(1) if found else None


def _monitor_job_line(instance: str, p: dict[str, Any], started_by: str) -> Line:
    rate = _price(p["sagemaker_processing_per_hour"], instance, "processing")
    hours = p["assumptions"]["monitor_job_hours"]
    return Line(
        f"monitor job ({started_by})",
        f"1 x {instance} x {hours} h (assumed) x ${rate}/h",
        hours * rate,
    )


def _launcher_line(
    logical_id: str, function: dict[str, Any], runs: float, p: dict[str, Any]
) -> Line:
    """A schedule invoking a Lambda: Scheduler invocations, Lambda requests and duration."""
    memory_gb = function.get("MemorySize", 128) / 1024
    seconds = p["assumptions"]["scheduled_lambda_seconds"]
    per_run = (
        p["eventbridge_scheduler_per_million_invocations"] / 1e6
        + p["lambda_per_million_requests"] / 1e6
        + memory_gb * seconds * p["lambda_per_gb_second"]
    )
    return Line(
        f"schedule {logical_id} (Lambda)",
        f"{runs:.0f} runs x {memory_gb * 1024:.0f} MB x {seconds} s (assumed) + requests"
        f" = ${runs * per_run:.4f}",
        runs * per_run,
    )


def _scheduled_lines(
    resources: list[tuple[str, dict[str, Any]]], p: dict[str, Any], retrain: float
) -> tuple[list[Line], list[Line]]:
    """What schedules start with no traffic (the training pipeline, monitor jobs started
    directly, Lambda invocations), and what one monitor run costs when a schedule's Lambda
    starts the monitor job only for new data."""
    functions = {
        lid: r["Properties"] for lid, r in resources if r["Type"] == "AWS::Lambda::Function"
    }
    idle: list[Line] = []
    monitor_run: list[Line] = []
    for logical_id, resource in resources:
        if resource["Type"] != "AWS::Scheduler::Schedule":
            continue
        props = resource["Properties"]
        if props.get("State") == "DISABLED":
            continue
        runs = _schedule_runs_per_month(props["ScheduleExpression"])
        target = props.get("Target", {})
        text = json.dumps(target)
        if logical_id.startswith("Batch"):
            # Off by default in every stage (config/settings.py scheduled_batch_scoring).
            raise CostError(
                f"{logical_id}: an enabled batch scoring schedule is not priced yet "
                "(its transform job's hours have no assumption here); price it by hand"
            )
        if (
            "StartPipelineExecution" in text
            or ":pipeline/" in text
            or "pipeline" in (logical_id.lower())
        ):
            idle.append(
                Line(
                    "scheduled retraining",
                    f"{runs:.2f} runs x ${retrain:.2f} per retrain",
                    runs * retrain,
                )
            )
            continue
        arn = target.get("Arn")
        function_id = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
        if function_id in functions:
            function = functions[function_id]
            idle.append(_launcher_line(logical_id, function, runs, p))
            # The job it may start is in its environment: paid per run with new data only.
            instance = _job_instance(function.get("Environment", {}))
            if instance:
                monitor_run.append(_monitor_job_line(instance, p, logical_id))
            continue
        instance = _job_instance(target)
        if instance:
            # A job the schedule starts itself runs, and is paid, whether or not data came.
            rate = _price(p["sagemaker_processing_per_hour"], instance, "processing")
            hours = p["assumptions"]["monitor_job_hours"]
            idle.append(
                Line(
                    f"scheduled job {logical_id}",
                    f"{runs:.0f} runs x {instance} x {hours} h (assumed) x ${rate}/h",
                    runs * hours * rate,
                )
            )
    return idle, monitor_run


def _etl_lines(resources: list[tuple[str, dict[str, Any]]], p: dict[str, Any]) -> list[Line]:
    hours = p["assumptions"]["glue_run_hours"]
    lines = []
    for logical_id, resource in resources:
        if resource["Type"] != "AWS::Glue::Job":
            continue
        props = resource["Properties"]
        dpu = props["NumberOfWorkers"] * _price(
            p["glue_dpu_per_worker"], props["WorkerType"], "Glue worker type"
        )
        lines.append(
            Line(
                f"Glue job {logical_id}",
                f"up to {dpu:g} DPU x {hours} h (assumed) x ${p['glue_per_dpu_hour']}/DPU-h",
                dpu * hours * p["glue_per_dpu_hour"],
            )
        )
    return lines


def _fixed_lines(resources: list[tuple[str, dict[str, Any]]], p: dict[str, Any]) -> list[Line]:
    count: dict[str, int] = {}
    for _, resource in resources:
        count[resource["Type"]] = count.get(resource["Type"], 0) + 1
    lines = []
    for kind, label, price in (
        ("AWS::KMS::Key", "KMS keys", p["kms_key_per_month"]),
        (
            "AWS::CloudWatch::Dashboard",
            "CloudWatch dashboards",
            p["cloudwatch_dashboard_per_month"],
        ),
        ("AWS::CloudWatch::Alarm", "CloudWatch alarms", p["cloudwatch_alarm_per_month"]),
    ):
        if count.get(kind):
            lines.append(Line(label, f"{count[kind]} x ${price}/month", count[kind] * price))
    data_buckets = count.get("AWS::S3::Bucket", 0)
    if data_buckets:
        gb = p["assumptions"]["s3_gb_per_data_bucket_idle"]
        rate = p["s3_standard_per_gb_month"]
        lines.append(
            Line(
                "S3 storage",
                f"{data_buckets} buckets x {gb} GB (assumed) x ${rate}/GB-month",
                data_buckets * gb * rate,
            )
        )
    for kind, label in (
        ("AWS::Lambda::Function", "Lambda functions"),
        ("AWS::DynamoDB::Table", "DynamoDB tables (on demand)"),
        ("AWS::SNS::Topic", "SNS topics"),
        ("AWS::SSM::Parameter", "SSM parameters (standard)"),
    ):
        if count.get(kind):
            lines.append(Line(label, f"{count[kind]}, billed per request only", 0.0))
    return lines


def _network_lines(resources: list[tuple[str, dict[str, Any]]], p: dict[str, Any]) -> list[Line]:
    """VPC mode: interface endpoints bill per endpoint per zone-hour (one network interface
    per subnet), whether used or not; the S3 gateway endpoint has no charge. Data
    processed through them is per GB and not in the idle cost (docs/cost.md)."""
    interfaces = [
        r["Properties"]
        for _, r in resources
        if r["Type"] == "AWS::EC2::VPCEndpoint"
        and r["Properties"].get("VpcEndpointType") == "Interface"
    ]
    if not interfaces:
        return []
    hours, rate = p["hours_per_month"], p["vpc_interface_endpoint_per_az_hour"]
    zone_hours = sum(len(e.get("SubnetIds", [])) for e in interfaces) * hours
    zones = sorted({len(e.get("SubnetIds", [])) for e in interfaces})
    return [
        Line(
            "VPC interface endpoints",
            f"{len(interfaces)} endpoints x {'/'.join(map(str, zones))} zones x {hours} h "
            f"x ${rate}/zone-hour",
            zone_hours * rate,
        )
    ]


def price_stage(assembly: StageAssembly, prices: dict[str, Any]) -> StageCost:
    """The idle, per-retrain, per-ETL-run and per-monitor-run cost of one stage's templates."""
    if not assembly.templates:
        raise CostError(f"no templates in {assembly.directory}: run `make synth` first")
    resources = [
        item for template in assembly.templates.values() for item in template["Resources"].items()
    ]
    cost = StageCost(assembly.stage_name)
    cost.retrain = _retrain_lines(_pipeline_steps(resources), prices)
    scheduled, cost.monitor_run = _scheduled_lines(resources, prices, StageCost.total(cost.retrain))
    cost.idle = [
        *_endpoint_lines(resources, prices),
        *scheduled,
        *_fixed_lines(resources, prices),
        *_network_lines(resources, prices),
    ]
    cost.etl_run = _etl_lines(resources, prices)
    return cost


def _alarm_free_tier(costs: list[StageCost], accounts: list[str], p: dict[str, Any]) -> None:
    """CloudWatch's always-free allowance of alarms, once per account, to its first stages."""
    free_left = dict.fromkeys(accounts, p["cloudwatch_free_alarms_per_account"])
    rate = p["cloudwatch_alarm_per_month"]
    for cost, account in zip(costs, accounts, strict=True):
        alarms = sum(
            round(line.dollars / rate) for line in cost.idle if line.item == "CloudWatch alarms"
        )
        free = min(alarms, free_left[account])
        if free:
            free_left[account] -= free
            cost.idle.append(
                Line("CloudWatch free alarms", f"{free} of the account's first 10", -free * rate)
            )


def price_assembly(cdk_out: Path, prices_path: Path = PRICES) -> list[StageCost]:
    """Every synthesized stage in ``cdk_out``, priced with the table at ``prices_path``."""
    prices = json.loads(prices_path.read_text())
    stages = [StageAssembly(cdk_out, name) for name in stage_names(cdk_out)]
    if not stages:
        raise CostError(f"no stage assemblies in {cdk_out}: run `make synth` first")
    costs = [price_stage(stage, prices) for stage in stages]
    try:
        accounts = [stage.stage.account for stage in stages]
    except AssemblyError as error:
        raise CostError(str(error)) from error
    _alarm_free_tier(costs, accounts, prices)
    return costs


def report(costs: list[StageCost], prices: dict[str, Any]) -> str:
    out = [
        f"Prices: {prices['region']}, on-demand, as of {prices['as_of']} "
        "(tools/prices-us-east-1.json; sources and assumptions there, docs/cost.md)."
    ]
    for cost in costs:
        out.append(f"\n{cost.stage}")
        for title, lines in (
            ("idle, per month", cost.idle),
            ("per retrain (one training pipeline execution)", cost.retrain),
            ("per ETL run (raw arrival)", cost.etl_run),
            ("per monitor run (a scheduled run with new data)", cost.monitor_run),
        ):
            out.append(f"  {title}: ${StageCost.total(lines):,.2f}")
            out.extend(f"    {x.item:<44} {x.basis:<58} ${x.dollars:>8,.2f}" for x in lines)
    out.append("\nSummary ($)      idle/month   per retrain   per ETL run   per monitor run")
    out.extend(
        f"  {c.stage:<14} {StageCost.total(c.idle):>11,.2f} {StageCost.total(c.retrain):>13,.2f}"
        f" {StageCost.total(c.etl_run):>13,.2f} {StageCost.total(c.monitor_run):>17,.2f}"
        for c in costs
    )
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Price each synthesized stage.")
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--prices", type=Path, default=PRICES)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        costs = price_assembly(args.cdk_out, args.prices)
    except CostError as error:
        print(f"make cost: {error}", file=sys.stderr)
        sys.exit(1)
    print(report(costs, json.loads(args.prices.read_text())))


if __name__ == "__main__":
    main()
