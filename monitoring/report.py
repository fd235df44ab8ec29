"""report.html: every feature in a table, and a baseline-vs-current plot per drifted feature."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from monitoring.baseline import FeatureBaseline
from monitoring.constraint_checks import FeatureDrift
from monitoring.sketches import CategoricalState, FeatureState, NumericState

DISPLAY_BINS = 30
TOP_VALUES = 15


def _shares(points: np.ndarray, cdf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.diff(np.interp(edges, points, cdf, left=0.0, right=1.0))


def _numeric_plot(reference: FeatureBaseline, state: NumericState, ax: Any) -> None:
    assert reference.numeric is not None
    base_points, base_cdf = reference.numeric.edges, reference.numeric.cdf
    low = min(float(base_points[0]), state.minimum)
    high = max(float(base_points[-1]), state.maximum)
    current_points = np.concatenate([[low], state.edges, [high]])
    current_cdf = np.concatenate([[0.0], np.cumsum(state.counts) / max(state.present, 1)])
    edges = np.linspace(low, high, DISPLAY_BINS + 1)
    width = edges[1] - edges[0]
    # The baseline sketch's CDF starts at its minimum with that point's own mass.
    base = _shares(np.concatenate([[low], base_points]), np.concatenate([[0.0], base_cdf]), edges)
    current = _shares(current_points, current_cdf, edges)
    ax.bar(edges[:-1], base, width=width, align="edge", alpha=0.45, label="baseline")
    ax.bar(edges[:-1], current, width=width, align="edge", alpha=0.45, label="current")
    ax.set(xlabel="value", ylabel="share of rows")


def _categorical_plot(reference: FeatureBaseline, state: CategoricalState, ax: Any) -> None:
    assert reference.categorical is not None
    base = reference.categorical.counts
    current = state.frequencies()
    base_total, current_total = max(sum(base.values()), 1.0), max(sum(current.values()), 1)
    values = sorted(set(base) | set(current), key=lambda v: -(base.get(v, 0) + current.get(v, 0)))
    values = values[:TOP_VALUES]
    x = np.arange(len(values))
    ax.bar(x - 0.2, [base.get(v, 0) / base_total for v in values], 0.4, label="baseline")
    ax.bar(x + 0.2, [current.get(v, 0) / current_total for v in values], 0.4, label="current")
    ax.set_xticks(x, values, rotation=30, ha="right")
    ax.set(ylabel="share of rows")


def plot(
    name: str, reference: FeatureBaseline, state: FeatureState, distance: float, out: Path
) -> str:
    """One PNG comparing the feature's baseline and current distributions; its file name."""
    # A Figure without pyplot: no backend to choose, no global state (PNGs need no display).
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    if isinstance(state, NumericState) and reference.numeric is not None:
        _numeric_plot(reference, state, ax)
    elif isinstance(state, CategoricalState) and reference.categorical is not None:
        _categorical_plot(reference, state, ax)
    ax.set_title(f"{name}: drift distance {distance:.3f}")
    ax.legend()
    fig.tight_layout()
    path = out / f"drift_{name}.png"
    fig.savefig(path, dpi=100)
    return path.name


def baseline_and_window_plot(
    names: list[str],
    baseline: list[float],
    window: list[float],
    *,
    title: str,
    xlabel: str,
    path: Path,
) -> None:
    """One horizontal bar pair per name, the baseline's and this window's, top down."""
    fig = Figure(figsize=(7, 0.35 * len(names) + 1.4))
    ax = fig.subplots()
    position = np.arange(len(names))
    ax.barh(position - 0.2, baseline, height=0.4, label="baseline")
    ax.barh(position + 0.2, window, height=0.4, label="window")
    ax.set_yticks(position, names)
    ax.invert_yaxis()
    ax.set(title=title, xlabel=xlabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(
    *,
    out: Path,
    summary: dict[str, Any],
    drifts: list[FeatureDrift],
    statistics: dict[str, Any],
    violations: list[dict[str, str]],
    baselines: dict[str, FeatureBaseline],
    states: dict[str, FeatureState],
    sections: str = "",
) -> Path:
    """Write report.html (and its PNGs) to ``out``; returns the page's path. ``sections``:
    more of the page (HTML), after the features (the model's bias and attribution drift)."""
    by_feature: dict[str, list[str]] = {}
    for violation in violations:
        by_feature.setdefault(violation["feature_name"], []).append(
            violation["constraint_check_type"]
        )
    stats = {f["name"]: f for f in statistics["features"]}
    rows, images = [], []
    for d in drifts:
        entry = stats[d.name]
        common = (entry.get("numerical_statistics") or entry.get("string_statistics"))["common"]
        total = common["num_present"] + common["num_missing"]
        completeness = common["num_present"] / total if total else float("nan")
        reference = baselines.get(d.name)
        expected = (
            ""
            if reference is None or reference.completeness is None
            else f"{reference.completeness:.4f}"
        )
        mark = "DRIFT" if d.drifted else ("" if d.compared else "not compared")
        rows.append(
            f"<tr class='{'drift' if d.drifted else ''}'><td>{html.escape(d.name)}</td>"
            f"<td>{html.escape(entry['inferred_type'])}</td>"
            f"<td>{completeness:.4f}</td>"
            f"<td>{expected}</td>"
            f"<td>{d.distance:.4f}</td><td>{d.threshold:g}</td><td>{mark}</td>"
            f"<td>{html.escape(', '.join(by_feature.get(d.name, [])))}</td></tr>"
        )
        if d.drifted and reference is not None:
            images.append(plot(d.name, reference, states[d.name], d.distance, out))
    general = "".join(
        f"<li>{html.escape(v['constraint_check_type'])}: {html.escape(v['description'])}</li>"
        for v in violations
        if not v["feature_name"]
    )
    facts = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
        if not isinstance(v, dict | list)
    )
    figures = "".join(
        f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in images
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Monitoring report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}"
        "tr.drift{background:#fde2e2}img{max-width:48%}</style></head><body>"
        f"<h1>Monitoring report</h1><table>{facts}</table>"
        f"<h2>Features</h2><table><tr><th>feature</th><th>type</th><th>completeness</th>"
        f"<th>baseline completeness</th><th>distance</th><th>threshold</th><th>drift</th>"
        f"<th>violations</th></tr>{''.join(rows)}</table>"
        f"{f'<h2>Request shape</h2><ul>{general}</ul>' if general else ''}"
        f"<h2>Drifted features</h2>{figures or '<p>none</p>'}{sections}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
