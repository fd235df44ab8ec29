"""The two Glue 5.0 jobs and the event-driven workflow that runs them on raw arrivals.

raw object created (S3 -> EventBridge) -> rule -> Glue workflow (EVENT trigger, batched)
    -> raw_to_processed -> on success -> processed_to_curated

The jobs run the scripts in ``glue/``; ``config/``, ``features/`` and ``glue/`` travel as
one zip in ``--extra-py-files`` so the scripts judge values with the same schema and value
rules (``features/values.py``) and derive features with the same code
(``features/transform.py``) as training and inference. Glue 5.0 (Spark 3.5.4, Python
3.11) provides numpy, pandas and pyarrow, which that code and Spark's Arrow UDFs need.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Aws, IgnoreMode, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config.layout import (
    CURATED_PREFIX,
    GLUE_TEMP_PREFIX,
    PROCESSED_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
)
from config.metrics import DATA_LAKE_NAMESPACE
from config.schema import DATASETS_DIR
from config.settings import StageSettings
from stacks.constructs.log_groups import StageLogGroup, glue_log_group_name
from stacks.constructs.nag import acknowledge
from stacks.constructs.secure_bucket import removal_policy

ROOT = Path(__file__).resolve().parents[2]
GLUE_DIR = ROOT / "glue"


def s3_url(bucket: s3.IBucket, prefix: str = "") -> str:
    return f"s3://{bucket.bucket_name}/{prefix}"


class GlueEtl(Construct):
    """Glue jobs raw -> processed -> curated, their role, encryption and trigger."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        key: kms.IKey,
        raw: s3.IBucket,
        processed: s3.IBucket,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        dead_letters: sqs.IQueue,
    ) -> None:
        """``dead_letters``: where raw-arrival events go that EventBridge could not
        deliver to the workflow after its retries."""
        super().__init__(scope, construct_id)
        library, schema_file, scripts = self._assets(settings)
        self.security_configuration = self._security_configuration(key)

        self.role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal(
                "glue.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="Runs the data-lake Glue jobs of this stage.",
        )
        self._grant_job_access(
            key=key,
            raw=raw,
            processed=processed,
            curated=curated,
            artifacts=artifacts,
            assets=[library, schema_file, *scripts.values()],
        )

        self._jobs(
            settings=settings,
            library=library,
            schema_file=schema_file,
            scripts=scripts,
            key=key,
            raw=raw,
            processed=processed,
            curated=curated,
            artifacts=artifacts,
        )
        self.workflow = self._workflow(raw, dead_letters)

    def _assets(
        self, settings: StageSettings
    ) -> tuple[s3_assets.Asset, s3_assets.Asset, dict[str, s3_assets.Asset]]:
        """The jobs' code library, the dataset's schema file and the two job scripts."""
        library = s3_assets.Asset(
            self,
            "JobLibrary",
            path=str(ROOT),
            ignore_mode=IgnoreMode.GIT,
            exclude=[
                "*",
                "!config",
                "!config/**",
                "!features",
                "!features/**",
                "!glue",
                "!glue/**",
                "**/__pycache__",
            ],
        )
        schema_file = s3_assets.Asset(
            self, "DatasetSchema", path=str(DATASETS_DIR / f"{settings.dataset}.json")
        )
        scripts = {
            name: s3_assets.Asset(self, f"{name.title().replace('_', '')}Script", path=str(path))
            for name, path in (
                ("raw_to_processed", GLUE_DIR / "raw_to_processed.py"),
                ("processed_to_curated", GLUE_DIR / "processed_to_curated.py"),
            )
        }
        return library, schema_file, scripts

    def _security_configuration(self, key: kms.IKey) -> glue.CfnSecurityConfiguration:
        """Encryption of what the jobs write: S3 objects, logs and bookmarks."""
        return glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=self.security_name(self),
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )

    def _jobs(
        self,
        *,
        settings: StageSettings,
        library: s3_assets.Asset,
        schema_file: s3_assets.Asset,
        scripts: dict[str, s3_assets.Asset],
        key: kms.IKey,
        raw: s3.IBucket,
        processed: s3.IBucket,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
    ) -> None:
        """The jobs' log group, then raw_to_processed and processed_to_curated."""
        # The jobs' continuous (driver and executor) logs, in a group the stage owns.
        self.log_group = StageLogGroup(
            self,
            "Logs",
            log_group_name=glue_log_group_name(self.security_name(self)),
            key=key,
            retention_days=settings.log_retention_days,
            removal_policy=removal_policy(settings),
        )
        common_args = {
            "--job-language": "python",
            "--enable-metrics": "true",
            "--enable-observability-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--continuous-log-logGroup": self.log_group.log_group_name,
            "--enable-auto-scaling": "true",
            "--job-bookmark-option": "job-bookmark-enable",
            "--TempDir": s3_url(artifacts, GLUE_TEMP_PREFIX),
            "--extra-py-files": library.s3_object_url,
            "--schema_uri": schema_file.s3_object_url,
        }
        self.raw_to_processed = self._job(
            "RawToProcessedJob",
            script=scripts["raw_to_processed"],
            description="Validate raw rows against the schema, quarantine rejects, dedupe.",
            settings=settings,
            arguments={
                **common_args,
                # Each file's format (CSV, JSON lines) comes from its extension.
                "--input_path": s3_url(raw, RAW_PREFIX),
                "--processed_path": s3_url(processed, PROCESSED_PREFIX),
                "--quarantine_path": s3_url(processed, QUARANTINE_PREFIX),
            },
        )
        self.processed_to_curated = self._job(
            "ProcessedToCuratedJob",
            script=scripts["processed_to_curated"],
            description="Latest row per id plus derived features: the model-ready table.",
            settings=settings,
            arguments={
                **common_args,
                # The curated zone is rebuilt from all of processed, so no bookmark here.
                "--job-bookmark-option": "job-bookmark-disable",
                "--processed_path": s3_url(processed, PROCESSED_PREFIX),
                "--curated_path": s3_url(curated, CURATED_PREFIX),
            },
        )

    @staticmethod
    def security_name(scope: Construct) -> str:
        """The jobs' security configuration's name in ``scope``'s stack."""
        return f"{Stack.of(scope).stack_name}-etl"

    def _job(
        self,
        construct_id: str,
        *,
        script: s3_assets.Asset,
        description: str,
        settings: StageSettings,
        arguments: dict[str, str],
    ) -> glue.CfnJob:
        return glue.CfnJob(
            self,
            construct_id,
            description=description,
            role=self.role.role_arn,
            glue_version="5.0",
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            worker_type="G.1X",
            # With --enable-auto-scaling this is the ceiling; Glue scales down when idle.
            number_of_workers=settings.glue_max_workers,
            timeout=60,
            max_retries=0,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.ref,
            default_arguments=arguments,
        )

    def _workflow(self, raw: s3.IBucket, dead_letters: sqs.IQueue) -> glue.CfnWorkflow:
        workflow = glue.CfnWorkflow(
            self,
            "Workflow",
            description="raw arrival -> raw_to_processed -> processed_to_curated",
            max_concurrent_runs=1,
        )
        self._triggers(workflow)
        self._raw_arrival_rule(workflow, raw, dead_letters)
        return workflow

    def _triggers(self, workflow: glue.CfnWorkflow) -> None:
        """raw_to_processed on raw arrivals, then processed_to_curated on its success."""
        # EVENT trigger: EventBridge notifies the workflow; batching folds a burst of
        # uploads into one run (up to 100 objects, or whatever arrived within 5 minutes).
        glue.CfnTrigger(
            self,
            "OnRawArrival",
            type="EVENT",
            workflow_name=workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.raw_to_processed.ref)],
            event_batching_condition=glue.CfnTrigger.EventBatchingConditionProperty(
                batch_size=100, batch_window=300
            ),
        )
        glue.CfnTrigger(
            self,
            "AfterProcessed",
            type="CONDITIONAL",
            start_on_creation=True,
            workflow_name=workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.processed_to_curated.ref)],
            predicate=glue.CfnTrigger.PredicateProperty(
                conditions=[
                    glue.CfnTrigger.ConditionProperty(
                        job_name=self.raw_to_processed.ref,
                        logical_operator="EQUALS",
                        state="SUCCEEDED",
                    )
                ]
            ),
        )

    def _raw_arrival_rule(
        self, workflow: glue.CfnWorkflow, raw: s3.IBucket, dead_letters: sqs.IQueue
    ) -> None:
        """The EventBridge rule that notifies the workflow of each raw arrival."""
        workflow_arn = Stack.of(self).format_arn(
            service="glue", resource="workflow", resource_name=workflow.ref
        )
        events_role = self._events_role(workflow_arn)
        rule = events.Rule(
            self,
            "RawArrivalRule",
            description="Starts the ETL workflow when a file lands in the raw zone.",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [raw.bucket_name]},
                    "object": {"key": [{"prefix": RAW_PREFIX}]},
                },
            ),
        )
        cfn_rule = rule.node.default_child
        assert isinstance(cfn_rule, events.CfnRule)
        # aws-events-targets has no Glue workflow target; the L1 property is the documented way.
        cfn_rule.targets = [
            events.CfnRule.TargetProperty(
                id="EtlWorkflow",
                arn=workflow_arn,
                role_arn=events_role.role_arn,
                # A file that never reached the workflow would sit in raw unprocessed
                # until the next arrival: retry for a day (EventBridge's most), then
                # keep the event for an operator to redrive.
                retry_policy=events.CfnRule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=24 * 3600, maximum_retry_attempts=185
                ),
                dead_letter_config=events.CfnRule.DeadLetterConfigProperty(
                    arn=dead_letters.queue_arn
                ),
            )
        ]
        # EventBridge sends to the dead-letter queue as itself, for this rule only.
        dead_letters.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RawArrivalDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[dead_letters.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )

    def _events_role(self, workflow_arn: str) -> iam.Role:
        """The role the raw-arrival rule notifies the workflow with."""
        events_role = iam.Role(
            self,
            "EventsRole",
            # Rules of this account and region only (confused deputy); the rule's own ARN
            # would be a circular reference (the rule names this role).
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="events", resource="rule", resource_name="*"
                        )
                    },
                },
            ),
            description="Lets the raw-arrival rule notify the ETL workflow.",
        )
        events_role.add_to_policy(
            iam.PolicyStatement(actions=["glue:notifyEvent"], resources=[workflow_arn])
        )
        return events_role

    def _grant_job_access(
        self,
        *,
        key: kms.IKey,
        raw: s3.IBucket,
        processed: s3.IBucket,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        assets: list[s3_assets.Asset],
    ) -> None:
        """Exactly what the jobs do: read raw and assets, write the zones, log, emit metrics."""
        written = self._written_zones(processed, curated, artifacts)
        read = ["s3:GetObject"]
        write = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        # Glue names its continuous-log groups and streams per run and per security
        # configuration, so the policy can only name the /aws-glue/ prefix.
        glue_logs = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadCode",
                actions=read,
                resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in assets],
            ),
            iam.PolicyStatement(
                sid="ListZones",
                actions=["s3:ListBucket"],
                resources=[b.bucket_arn for b in (raw, processed, curated, artifacts)],
            ),
            iam.PolicyStatement(
                sid="ReadRaw", actions=read, resources=[raw.arn_for_objects(f"{RAW_PREFIX}*")]
            ),
            iam.PolicyStatement(
                sid="WriteZones",
                actions=write,
                resources=[bucket.arn_for_objects(pattern) for bucket, pattern, _ in written],
            ),
            iam.PolicyStatement(
                sid="UseStageKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="ContinuousLogging",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",
                ],
                resources=[glue_logs],
            ),
            iam.PolicyStatement(
                sid="JobMetrics",
                actions=["cloudwatch:PutMetricData"],
                # PutMetricData has no resource-level permissions; the namespace condition
                # is the only scope AWS offers.
                resources=["*"],
                conditions={
                    "StringEquals": {"cloudwatch:namespace": ["Glue", DATA_LAKE_NAMESPACE]}
                },
            ),
        ]
        policy = iam.Policy(self, "JobPolicy", statements=statements)
        policy.attach_to_role(self.role)
        self._acknowledge_job_policy(policy, raw, written, glue_logs)

    @staticmethod
    def _written_zones(
        processed: s3.IBucket, curated: s3.IBucket, artifacts: s3.IBucket
    ) -> list[tuple[s3.IBucket, str, str]]:
        """(bucket, key pattern, why) of every prefix the jobs write."""
        # "data*" rather than "data/*": Spark's S3 committers also write folder marker
        # objects such as "data_$folder$" next to a prefix.
        return [
            (
                processed,
                f"{PROCESSED_PREFIX.rstrip('/')}*",
                "Spark writes partitioned Parquet here.",
            ),
            (processed, f"{QUARANTINE_PREFIX.rstrip('/')}*", "Rejected rows are written here."),
            (
                curated,
                f"{CURATED_PREFIX.rstrip('/')}*",
                "The curated snapshot is rewritten each run.",
            ),
            (artifacts, f"{GLUE_TEMP_PREFIX.rstrip('/')}*", "Glue's scratch space (TempDir)."),
        ]

    def _acknowledge_job_policy(
        self,
        policy: iam.Policy,
        raw: s3.IBucket,
        written: list[tuple[s3.IBucket, str, str]],
        glue_logs: str,
    ) -> None:
        """Why the job policy's wildcards are needed (cdk-nag AwsSolutions-IAM5)."""
        object_wildcards = {
            f"Resource::<{Stack.of(self).get_logical_id(b.node.default_child)}.Arn>/{p}": why  # type: ignore[arg-type]
            for b, p, why in [
                (
                    raw,
                    f"{RAW_PREFIX}*",
                    "The job reads every new file under the raw landing prefix.",
                ),
                *written,
            ]
        }
        for finding, reason in object_wildcards.items():
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[{finding}]",
                f"{reason} Object keys are unknown until run time; scoped to one prefix.",
            )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{glue_logs}]",
            "Glue creates its log groups and streams under /aws-glue/ with run-specific names.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource ARN; limited to the Glue and "
            "MLOps/DataLake namespaces.",
        )
