"""Every CloudWatch metric the dashboards show: the ones this project emits, and the
ones AWS documents for the services it uses. Plain Python (no CDK), so the emitting
runtime code and the dashboard both name metrics from here, and a test checks that
each dashboard metric is one of these and that each emitted one really is emitted by
the code named in ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Namespaces this project publishes to.
DATA_LAKE_NAMESPACE = "MLOps/DataLake"
MONITORING_NAMESPACE = "MLOps/Monitoring"
RETRAINING_NAMESPACE = "MLOps/Retraining"
DELIVERY_NAMESPACE = "MLOps/Delivery"
DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MODEL_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
BIAS_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/bias-metrics"
# Why rows were quarantined (glue/verdicts.py's checks, in their order; missing_columns
# is every record of a file whose header lacks a required column).
QUARANTINE_REASONS = (
    "missing_columns",
    "malformed_record",
    "missing_required",
    "wrong_type",
    "out_of_range",
    "unknown_category",
)

# The training job's metrics, read by SageMaker from the lines training/train.py logs:
# one definition per metric a round line can carry; a line holds several (binary logs
# auc and logloss), so each regex anchors on its own "<set>-<metric>:" label. Here, not
# in train.py, so that synth (the pipeline definition) does not import xgboost.
METRIC_DEFINITIONS = [
    *(
        {"Name": f"{data}:{metric}", "Regex": rf"\s{data}-{metric}:([0-9.]+)"}
        for metric in ("auc", "logloss", "rmse", "mlogloss")
        for data in ("validation", "train")
    ),
    {"Name": "final:validation", "Regex": r"final validation-[a-z]+=([0-9.]+)"},
]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: namespace, name, the exact set of dimension names, and where it comes
    from (for ours, the file that emits it; for AWS's, the documentation page)."""

    namespace: str
    name: str
    dimensions: frozenset[str]
    source: str

    def matches(self, namespace: str, name: str, dimensions: frozenset[str]) -> bool:
        if namespace != self.namespace or dimensions != self.dimensions:
            return False
        if self.name.endswith("*"):  # a family, e.g. one drift metric per feature
            return name.startswith(self.name[:-1])
        return name == self.name


def _spec(namespace: str, name: str, dimensions: tuple[str, ...], source: str) -> MetricSpec:
    return MetricSpec(namespace, name, frozenset(dimensions), source)


JOB = ("Job",)
ENDPOINT = ("Endpoint",)
# Powertools' Metrics adds the "service" dimension (POWERTOOLS_SERVICE_NAME) to each.
DECISION = ("service", "Decision")

EMITTED: tuple[MetricSpec, ...] = (
    _spec(DATA_LAKE_NAMESPACE, "RowsRead", JOB, "glue/job_runtime.py"),
    _spec(DATA_LAKE_NAMESPACE, "RowsValid", JOB, "glue/job_runtime.py"),
    _spec(DATA_LAKE_NAMESPACE, "DuplicatesDropped", JOB, "glue/job_runtime.py"),
    _spec(DATA_LAKE_NAMESPACE, "RowsQuarantined", JOB, "glue/job_runtime.py"),
    _spec(DATA_LAKE_NAMESPACE, "RowsQuarantined", ("Job", "Reason"), "glue/job_runtime.py"),
    _spec(DELIVERY_NAMESPACE, "PromotionDecision", DECISION, "lambda/model_promotion/handler.py"),
    # Published by the monitor (issue 12) and the retrain trigger; names from the brief.
    _spec(MONITORING_NAMESPACE, "FeaturesDrifted", ENDPOINT, "monitoring/cloudwatch.py"),
    _spec(MONITORING_NAMESPACE, "DataQualityViolations", ENDPOINT, "monitoring/cloudwatch.py"),
    _spec(MONITORING_NAMESPACE, "RowsAnalyzed", ENDPOINT, "monitoring/cloudwatch.py"),
    _spec(MONITORING_NAMESPACE, "ModelQualityViolation", ENDPOINT, "monitoring/cloudwatch.py"),
    _spec(
        DATA_METRICS_NAMESPACE,
        "feature_baseline_drift_*",
        ("Endpoint", "MonitoringSchedule"),
        "monitoring/cloudwatch.py",
    ),
    _spec(MONITORING_NAMESPACE, "BiasDriftViolations", ENDPOINT, "monitoring/cloudwatch.py"),
    _spec(MONITORING_NAMESPACE, "FeatureAttributionNDCG", ENDPOINT, "monitoring/cloudwatch.py"),
    _spec(
        BIAS_METRICS_NAMESPACE,
        "bias_metric_*",
        (
            "Endpoint",
            "MonitoringSchedule",
            "BiasStage",
            "Label",
            "LabelValue",
            "Facet",
            "FacetValue",
        ),
        "monitoring/cloudwatch.py",
    ),
    _spec(RETRAINING_NAMESPACE, "RetrainDecision", DECISION, "lambda/retrain_trigger/handler.py"),
    # One per scheduled monitor run the launcher handled, whatever it decided: the
    # heartbeat the monitor-stopped alarm watches (missing data = the monitor did not run).
    _spec(MONITORING_NAMESPACE, "MonitorRuns", ("service",), "lambda/monitor_launcher/handler.py"),
)

# Pages of the AWS documentation that list these metrics (titles as AWS publishes them).
SAGEMAKER_DOC = "Amazon SageMaker AI metrics in Amazon CloudWatch"
PIPELINES_DOC = "Amazon SageMaker AI metrics in Amazon CloudWatch (SageMaker pipelines metrics)"
LAMBDA_DOC = "Types of metrics for Lambda functions (AWS Lambda Developer Guide)"
GLUE_DOC = "Monitoring AWS Glue using Amazon CloudWatch metrics (AWS Glue metrics)"
SQS_DOC = "Available CloudWatch metrics for Amazon SQS (Amazon SQS Developer Guide)"
EVENTS_DOC = "Monitoring Amazon EventBridge (EventBridge metrics)"
VARIANT = ("EndpointName", "VariantName")

AWS_DOCUMENTED: tuple[MetricSpec, ...] = (
    *(
        _spec("AWS/SageMaker", name, VARIANT, SAGEMAKER_DOC)
        for name in (
            "Invocations",
            "Invocation4XXErrors",
            "Invocation5XXErrors",
            "InvocationsPerInstance",
            "ModelLatency",
            "OverheadLatency",
        )
    ),
    *(
        _spec("/aws/sagemaker/Endpoints", name, VARIANT, SAGEMAKER_DOC)
        for name in ("CPUUtilization", "MemoryUtilization", "DiskUtilization")
    ),
    *(
        _spec("AWS/Sagemaker/ModelBuildingPipeline", name, ("PipelineName",), PIPELINES_DOC)
        for name in (
            "ExecutionStarted",
            "ExecutionFailed",
            "ExecutionSucceeded",
            "ExecutionStopped",
            "ExecutionDuration",
        )
    ),
    *(
        _spec("AWS/Lambda", name, ("FunctionName",), LAMBDA_DOC)
        for name in (
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
            "ProvisionedConcurrencySpilloverInvocations",
            "DeadLetterErrors",
            "IteratorAge",
        )
    ),
    _spec("AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName",), SQS_DOC),
    _spec("AWS/Events", "MatchedEvents", ("RuleName",), EVENTS_DOC),
    *(
        _spec("Glue", name, ("JobName", "JobRunId", "Type"), GLUE_DOC)
        for name in (
            "glue.driver.aggregate.numCompletedTasks",
            "glue.driver.aggregate.numFailedTasks",
            "glue.driver.aggregate.numKilledTasks",
            "glue.driver.aggregate.elapsedTime",
            "glue.driver.aggregate.numCompletedStages",
            "glue.ALL.jvm.heap.usage",
            "glue.ALL.system.cpuSystemLoad",
            "glue.driver.jvm.heap.usage",
            "glue.driver.system.cpuSystemLoad",
        )
    ),
)


def emitted(quality_metric: str) -> tuple[MetricSpec, ...]:
    """What the project emits, with the monitor's live value of the schema's quality-gate
    metric (named as in the schema, e.g. "auc")."""
    live = _spec(MONITORING_NAMESPACE, quality_metric, ENDPOINT, "monitoring/cloudwatch.py")
    return (*EMITTED, live)


def known_metric(
    namespace: str, name: str, dimensions: frozenset[str], *, quality_metric: str
) -> MetricSpec | None:
    """The registry entry a dashboard metric is, or None if it is unknown."""
    return next(
        (
            s
            for s in (*emitted(quality_metric), *AWS_DOCUMENTED)
            if s.matches(namespace, name, dimensions)
        ),
        None,
    )
