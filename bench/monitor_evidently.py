"""The peer side of bench/monitor.py: evidently's data drift report on the same capture files.

Runs in the bench environment (.venv-bench, bench/requirements.txt), never the runtime's:
only the standard library, pandas and evidently. Usage::

    .venv-bench/bin/python bench/monitor_evidently.py <work dir> <capture files to read>

Reads the raw training split (baseline.csv, the reference) and the captured requests
(their CSV bodies, the way an evidently user would extract them), runs
``Report([DataDriftPreset()])`` with evidently's default tests, and prints one JSON
line: seconds per phase, peak RSS and the columns evidently flags.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

# Run as a file from the bench environment: the repository root holds bench/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.process_memory import peak_rss_mb


def flagged(snapshot: dict[str, Any]) -> list[str]:
    """Columns whose ValueDrift crossed its threshold (distances: >=; p-values: <)."""
    drifted = []
    for metric in snapshot["metrics"]:
        config = metric.get("config", {})
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        is_p_value = "p_value" in str(config.get("method", "")).lower()
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(config["column"])
    return sorted(drifted)


def main() -> None:
    work, files = Path(sys.argv[1]), int(sys.argv[2])
    spec = json.loads((work / "spec.json").read_text())
    names, numeric, categorical = spec["features"], spec["numeric"], spec["categorical"]
    text = {c: str for c in categorical}
    started_rss = peak_rss_mb()
    t0 = time.perf_counter()
    reference = pd.read_csv(
        work / "baseline.csv", dtype=text, keep_default_na=False, na_values=[""]
    )
    t1 = time.perf_counter()
    bodies = []
    for path in sorted((work / "capture").glob("*.jsonl"))[:files]:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                bodies.append(json.loads(line)["captureData"]["endpointInput"]["data"])
    current = pd.read_csv(
        io.StringIO("\n".join(bodies)),
        header=None,
        names=names,
        dtype=text,
        keep_default_na=False,
        na_values=[""],
    )
    del bodies
    t2 = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": len(current),
                "seconds": t3 - t0,
                "phases": {
                    "load_reference": t1 - t0,
                    "parse_capture": t2 - t1,
                    "analyze": t3 - t2,
                },
                "rss_after_imports_mb": started_rss,
                "load_average_1m": os.getloadavg()[0],
                "peak_rss_mb": peak_rss_mb(),
                "flagged": flagged(snapshot.dict()),
            }
        )
    )


if __name__ == "__main__":
    main()
