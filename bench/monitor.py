"""Monitor benchmark: our drift analysis against evidently's, on the same captured rows.

The same 1M captured requests (SageMaker data-capture JSON lines, one CSV row each, 20
features: 14 numeric, 4 categorical, 2 boolean, four of them shifted) are analyzed
from the same local files by

- ours: ``monitoring.monitor.analyze_lines`` against the baseline's statistics.json and
  constraints.json (what the pipeline's baseline step wrote from the reference rows);
- evidently (the peer, in its own environment ``.venv-bench``): ``Report([DataDriftPreset()])``
  with its default tests, reference = the same reference rows (baseline.csv), current =
  the captured bodies parsed with pandas (bench/monitor_evidently.py).

Each side runs in a fresh subprocess, one process each (the monitor's ``--workers``
would spread chunks over CPUs); time is the work after imports, memory the
process's peak RSS (VmHWM, imports included, so the RSS after imports is reported
too). It runs at two sizes to show how memory grows with rows. Results:
bench/results/monitor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from config.schema import DatasetSchema, FeatureType
from features.profile import constraints, statistics
from local.lake.synthetic import generate_clean, raw_records
from local.monitoring.capture_traffic import captured_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
START = datetime(2026, 3, 1, tzinfo=UTC)
SHIFT = {"n01": 0.3, "n06": 0.2, "c15": 0.4, "b19": 0.3}

NUMERIC_HINTS: list[dict[str, Any]] = [
    {"distribution": "normal", "mean": 50, "std": 10},
    {"distribution": "normal", "mean": 100, "std": 30},
    {"distribution": "lognormal", "mean": 3, "std": 0.5},
    {"distribution": "exponential", "mean": 20},
    {"distribution": "poisson", "mean": 4},
    {"distribution": "uniform", "low": 0, "high": 100},
    {"distribution": "normal", "mean": 0, "std": 1},
    {"distribution": "exponential", "mean": 5},
    {"distribution": "uniform", "low": 10, "high": 20},
    {"distribution": "normal", "mean": 30, "std": 5, "integer": True},
    {"distribution": "lognormal", "mean": 1, "std": 0.8},
    {"distribution": "poisson", "mean": 10},
    {"distribution": "normal", "mean": 1000, "std": 200},
    {"distribution": "uniform", "low": -5, "high": 5},
]
CATEGORICAL_WEIGHTS = [[0.5, 0.3, 0.2], [0.2] * 5, [0.4, 0.3, 0.2, 0.1], [0.7, 0.3]]


def bench_schema() -> DatasetSchema:
    """20 features from seeded generators; the target depends on a few of them."""
    features: list[dict[str, Any]] = [
        {"name": f"n{i + 1:02d}", "type": "numeric", "synthetic": hints}
        for i, hints in enumerate(NUMERIC_HINTS)
    ]
    features += [
        {
            "name": f"c{i + 15}",
            "type": "categorical",
            "categories": [f"v{j}" for j in range(len(weights))],
            "synthetic": {"weights": weights},
        }
        for i, weights in enumerate(CATEGORICAL_WEIGHTS)
    ]
    features += [
        {"name": "b19", "type": "boolean", "synthetic": {"p_true": 0.3}},
        {"name": "b20", "type": "boolean", "synthetic": {"p_true": 0.5}},
    ]
    return DatasetSchema.from_dict(
        {
            "name": "bench_wide",
            "problem_type": "binary_classification",
            "quality_gate": {"metric": "auc", "threshold": 0.7},
            "id_column": "id",
            "event_time_column": "event_time",
            "target": {
                "name": "label",
                "synthetic": {"positive_rate": 0.2, "effects": {"n01": 0.05, "b19": 0.5}},
            },
            "features": features,
        }
    )


def _feature_frame(schema: DatasetSchema, frame: pd.DataFrame) -> pd.DataFrame:
    records = pd.DataFrame(raw_records(schema, frame), columns=schema.raw_columns)
    return records[schema.feature_names]


def prepare(
    work: Path, schema: DatasetSchema, rows: int, file_rows: int, reference_rows: int
) -> None:
    """Reference files for both sides and ``rows`` captured rows in files of ``file_rows``."""
    reference = _feature_frame(schema, generate_clean(schema, reference_rows, seed=1))
    reference.to_csv(work / "baseline.csv", index=False)  # what preprocess writes
    stats = statistics(reference.replace("", None), schema)
    (work / "statistics.json").write_text(json.dumps(stats))
    (work / "constraints.json").write_text(json.dumps(constraints(stats, schema)))
    (work / "spec.json").write_text(
        json.dumps(
            {
                "features": schema.feature_names,
                "numeric": [f.name for f in schema.features if f.type is FeatureType.NUMERIC],
                "categorical": [
                    f.name for f in schema.features if f.type is not FeatureType.NUMERIC
                ],
            }
        )
    )
    capture = work / "capture"
    capture.mkdir()
    for part in range(rows // file_rows):
        frame = generate_clean(schema, file_rows, seed=100 + part, shift=SHIFT)
        with (capture / f"part-{part:03d}.jsonl").open("w", encoding="utf-8") as handle:
            for row in captured_rows(schema, frame, seed=100 + part, start=START):
                handle.write(row.line + "\n")


def worker(work: Path, files: int) -> None:
    """Our side, in its own process: analyze the first ``files`` capture files."""
    from bench.process_memory import peak_rss_mb
    from monitoring.baseline import parse_baseline
    from monitoring.monitor import analyze_lines

    schema = bench_schema()
    baseline = parse_baseline(
        json.loads((work / "statistics.json").read_text()),
        json.loads((work / "constraints.json").read_text()),
        schema,
    )
    rss_after_imports = peak_rss_mb()
    paths = sorted((work / "capture").glob("*.jsonl"))[:files]
    started = time.perf_counter()
    handles = [path.open(encoding="utf-8") for path in paths]
    try:
        # One process, as evidently runs (--workers would spread chunks over CPUs).
        result = analyze_lines(schema, baseline, handles, workers=1)
    finally:
        for handle in handles:
            handle.close()
    seconds = time.perf_counter() - started
    rows = result.statistics["dataset"]["item_count"]
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "rss_after_imports_mb": rss_after_imports,
                "load_average_1m": os.getloadavg()[0],
                "peak_rss_mb": peak_rss_mb(),
                "flagged": sorted(result.drifted),
            }
        )
    )


def _run(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--file-rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--worker", nargs=2, metavar=("WORK", "FILES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(Path(args.worker[0]), int(args.worker[1]))
        return {}
    if not PEER_PYTHON.exists():
        raise SystemExit(f"{PEER_PYTHON} is missing: run `make bench` (it builds .venv-bench)")
    schema = bench_schema()
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        print(f"Generating {args.rows:,} captured rows x {len(schema.features)} features ...")
        started = time.perf_counter()
        prepare(work, schema, args.rows, args.file_rows, args.reference_rows)
        print(f"  done in {time.perf_counter() - started:.0f}s")
        sizes: dict[str, Any] = {}
        for rows in (args.small_rows, args.rows):
            files = str(rows // args.file_rows)
            print(f"{rows:,} rows: ours ...", flush=True)
            ours = _run([sys.executable, "-m", "bench.monitor", "--worker", str(work), files])
            print(f"  {ours['seconds']:.1f}s, peak RSS {ours['peak_rss_mb']:.0f} MB", flush=True)
            print(f"{rows:,} rows: evidently ...", flush=True)
            peer = _run([str(PEER_PYTHON), "bench/monitor_evidently.py", str(work), files])
            print(f"  {peer['seconds']:.1f}s, peak RSS {peer['peak_rss_mb']:.0f} MB", flush=True)
            sizes[str(rows)] = {
                "ours": ours,
                "evidently": peer,
                "speedup": round(peer["seconds"] / ours["seconds"], 2),
                "speedup_vs_evidently_analysis_only": round(
                    peer["phases"]["analyze"] / ours["seconds"], 2
                ),
                "memory_ratio": round(peer["peak_rss_mb"] / ours["peak_rss_mb"], 2),
                "same_features_flagged": ours["flagged"] == peer["flagged"],
            }
        full, small = sizes[str(args.rows)], sizes[str(args.small_rows)]
        result = {
            "name": "monitor",
            "rows": args.rows,
            "features": len(schema.features),
            "reference_rows": args.reference_rows,
            "shifted_features": sorted(SHIFT),
            "peer": "evidently 0.7.23 Report([DataDriftPreset()]), default tests, .venv-bench",
            "sizes": sizes,
            "speedup": full["speedup"],
            "same_features_flagged": full["same_features_flagged"],
            "flagged_as_shifted": full["ours"]["flagged"] == sorted(SHIFT),
            "ours_peak_rss_growth_mb": round(
                full["ours"]["peak_rss_mb"] - small["ours"]["peak_rss_mb"], 1
            ),
            "evidently_peak_rss_growth_mb": round(
                full["evidently"]["peak_rss_mb"] - small["evidently"]["peak_rss_mb"], 1
            ),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitor.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ours_mb, peer_mb = full["ours"]["peak_rss_mb"], full["evidently"]["peak_rss_mb"]
    print(
        f"ours vs evidently at {args.rows:,} rows: {result['speedup']}x faster, "
        f"peak RSS {ours_mb:.0f} MB vs {peer_mb:.0f} MB, "
        f"same features flagged: {result['same_features_flagged']}"
    )
    return result


if __name__ == "__main__":
    main()
