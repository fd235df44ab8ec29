"""Glue's bookkeeping of the local ETL runs and the events it would send about them
(LOCAL stand-in: the jobs run on local Spark, not on Glue; Glue records each run, so
GetJobRun answers with its StartedOn, and sends a "Glue Job State Change" event to
EventBridge when it ends). The runs are recorded in moto's Glue, the events follow the
Glue developer guide's example ("Automating AWS Glue with EventBridge")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from local.moto_platform import ACCOUNT, REGION

DETAIL_TYPE = "Glue Job State Change"


def start_run(glue: Any, job_name: str) -> str:
    """Record a run of ``job_name`` starting now; its run id."""
    try:
        glue.get_job(JobName=job_name)
    except glue.exceptions.EntityNotFoundException:
        glue.create_job(
            Name=job_name,
            Role=f"arn:aws:iam::{ACCOUNT}:role/local-glue-job",
            Command={"Name": "glueetl", "ScriptLocation": f"s3://local/{job_name}.py"},
        )
    run_id: str = glue.start_job_run(JobName=job_name)["JobRunId"]
    return run_id


def state_change_event(job_name: str, run_id: str, state: str = "SUCCEEDED") -> dict[str, Any]:
    """The event Glue sends when run ``run_id`` of ``job_name`` reaches ``state``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.glue",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {
            "jobName": job_name,
            "severity": "INFO" if state == "SUCCEEDED" else "ERROR",
            "state": state,
            "jobRunId": run_id,
            "message": "Job run succeeded" if state == "SUCCEEDED" else f"Job run {state}",
        },
    }
