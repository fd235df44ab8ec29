"""Why a job failed, written where SageMaker reads it.

* training jobs: ``/opt/ml/output/failure``; DescribeTrainingJob returns its first 1 KB
  as ``FailureReason``;
* processing jobs: ``/opt/ml/output/message``; DescribeProcessingJob returns its first
  1 KB as ``ExitMessage``.

The folder is ``SM_OUTPUT_DIR`` when set (sagemaker-containers sets it for the user
script; the local runtime sets it to the job's own folder), else ``/opt/ml/output``.
In the XGBoost image, sagemaker-containers' trainer replaces the training ``failure``
file with its own message (the command and exit code) after the script exits; the
reason is then in the job's log, which this also writes to (stderr).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# SageMaker keeps the first 1 KB; a little more leaves room for multi-byte characters.
LIMIT_BYTES = 1024


def output_dir() -> Path:
    return Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))


def failure_text(error: BaseException) -> str:
    """The reason, first: its type and message, then the innermost frames."""
    reason = f"{type(error).__name__}: {error}"
    frames = traceback.format_tb(error.__traceback__)[-2:]
    text = reason + ("\n" + "".join(frames) if frames else "")
    return text.encode("utf-8")[:LIMIT_BYTES].decode("utf-8", errors="ignore")


@contextmanager
def report_failure(file_name: str = "failure") -> Iterator[None]:
    """Write the reason of any exception leaving the block to ``<output>/<file_name>``
    (``failure`` for training jobs, ``message`` for processing jobs), then re-raise."""
    try:
        yield
    except Exception as error:
        text = failure_text(error)
        print(text, file=sys.stderr, flush=True)
        try:
            folder = output_dir()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file_name).write_text(text, encoding="utf-8")
        except OSError as io_error:  # a read-only or missing /opt/ml must not hide the cause
            print(f"could not write the failure file: {io_error}", file=sys.stderr)
        raise
