"""The data lake on a laptop: zone folders, and the Glue job scripts run on local Spark.

The scripts are invoked through their own ``main(argv)`` with the same arguments the
Glue job definitions pass, only with file paths where Glue has ``s3://`` URIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glue import processed_to_curated, raw_to_processed
from glue.derive import CuratedCounts
from glue.validate import ProcessedCounts


@dataclass(frozen=True)
class LocalLake:
    """Zone folders under ``root``, laid out like the stage's buckets and prefixes."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw" / "incoming"

    @property
    def processed(self) -> Path:
        return self.root / "processed" / "data"

    @property
    def quarantine(self) -> Path:
        return self.root / "processed" / "quarantine"

    @property
    def curated(self) -> Path:
        return self.root / "curated" / "data"


def run_raw_to_processed(
    lake: LocalLake, schema_path: Path, batch: Path, fmt: str = "auto"
) -> ProcessedCounts:
    """Run glue/raw_to_processed.py over one raw batch (a file or a folder).

    ``fmt`` "auto" reads each file by its extension, as the deployed job does.
    """
    return raw_to_processed.main(
        [
            "raw_to_processed.py",
            "--JOB_NAME=raw_to_processed",
            f"--schema_uri={schema_path}",
            f"--input_path={batch}",
            f"--input_format={fmt}",
            f"--processed_path={lake.processed}",
            f"--quarantine_path={lake.quarantine}",
        ]
    )


def run_processed_to_curated(lake: LocalLake, schema_path: Path) -> CuratedCounts:
    """Run glue/processed_to_curated.py over the whole processed zone."""
    return processed_to_curated.main(
        [
            "processed_to_curated.py",
            "--JOB_NAME=processed_to_curated",
            f"--schema_uri={schema_path}",
            f"--processed_path={lake.processed}",
            f"--curated_path={lake.curated}",
        ]
    )
