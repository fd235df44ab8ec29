"""The synthesized operator dashboard, drawn from local metrics: what operators will see.

``render_dashboard`` reads the stage's dashboard body from cdk.out (the Operations stack),
gets every graph's metrics from CloudWatch (moto) and writes one HTML page with a PNG per
graph. A deploy-time dimension takes the local run's name where ``local.service_metrics``
knows it, else matches any value the run published; a graph with no local data says why.
"""

from __future__ import annotations

import html
import json
import re
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.cdk_assembly import TOKEN, AssemblyError, StageAssembly, resolve

if TYPE_CHECKING:  # drawn with matplotlib, imported only when a page is drawn
    from matplotlib.figure import Figure
from local.service_metrics import local_name, why_not_local

BINARY = re.compile(r"^\s*(\w+)\s*([-+*/])\s*(\w+)\s*$")
# cdk-monitoring-constructs' rate: FILL(m,0) / PERIOD(m), per second.
RATE = re.compile(r"^\s*FILL\((\w+),\s*0\)\s*/\s*PERIOD\(\1\)\s*$")
PERCENTILE = re.compile(r"^p\d+(\.\d+)?$")
LOCAL_PERIOD = 60  # seconds: a local run lasts minutes, so draw by the minute
NOTE_WIDTH = 64  # characters per line of a note, to fit the graph


class DashboardError(AssemblyError):
    """The cloud assembly has no dashboard for the stage, or its body does not parse."""


@dataclass(frozen=True)
class MetricRef:
    """One metric row of a graph widget."""

    namespace: str
    name: str
    dimensions: dict[str, str]
    stat: str
    label: str
    id: str | None = None
    visible: bool = True
    right: bool = False

    @property
    def dimension_names(self) -> frozenset[str]:
        return frozenset(self.dimensions)


@dataclass(frozen=True)
class Expression:
    """A metric math row (``expression``) of a graph widget."""

    expression: str
    label: str


@dataclass
class Widget:
    """One dashboard widget: text, a graph (metrics and expressions), or alarm status."""

    type: str
    title: str = ""
    markdown: str = ""
    metrics: list[MetricRef] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)


def dashboard_body(cdk_out: Path, stage: str) -> dict[str, Any]:
    """The parsed dashboard body of ``stage``'s Operations stack in ``cdk_out``; values
    CloudFormation would fill in stay as ``<cfn:...>`` tokens."""
    assembly = StageAssembly(cdk_out, stage)
    for stack in assembly.stacks("Operations"):
        for resource in assembly.resources(stack, "AWS::CloudWatch::Dashboard").values():
            text = resolve(resource["Properties"]["DashboardBody"], lenient=True)
            try:
                parsed: dict[str, Any] = json.loads(text)
            except json.JSONDecodeError as error:
                raise DashboardError(
                    f"{assembly.paths[stack].name}: body is not JSON: {error}"
                ) from error
            return parsed
    raise DashboardError(f"no dashboard in the {stage} Operations stack under {cdk_out}")


def _metric_row(row: list[Any]) -> MetricRef | Expression:
    options: dict[str, Any] = row[-1] if row and isinstance(row[-1], dict) else {}
    values = row[:-1] if options else row
    if not values:
        return Expression(options["expression"], options.get("label", options["expression"]))
    namespace, name, *pairs = values
    dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
    return MetricRef(
        namespace=namespace,
        name=name,
        dimensions=dimensions,
        stat=options.get("stat", "Average"),
        label=options.get("label", name),
        id=options.get("id"),
        visible=options.get("visible", True),
        right=options.get("yAxis") == "right",
    )


def widgets(body: dict[str, Any]) -> list[Widget]:
    """The body's widgets, in order."""
    parsed = []
    for raw in body.get("widgets", []):
        properties = raw.get("properties", {})
        widget = Widget(type=raw["type"], title=properties.get("title", ""))
        if raw["type"] == "text":
            widget.markdown = properties.get("markdown", "")
        elif raw["type"] == "alarm":
            widget.alarms = [arn.rsplit(":", 1)[-1] for arn in properties.get("alarms", [])]
        elif raw["type"] == "metric":
            for row in properties.get("metrics", []):
                item = _metric_row(row)
                if isinstance(item, Expression):
                    widget.expressions.append(item)
                else:
                    widget.metrics.append(item)
        parsed.append(widget)
    return parsed


def _concrete(cloudwatch: Any, metric: MetricRef) -> list[dict[str, str]]:
    """Dimension sets to query: the metric's own, with CloudFormation tokens replaced by
    the local run's names, or, where a token has no local name, every published set
    that agrees on the literal values."""
    dimensions = {
        k: (local_name(v) or v) if TOKEN.match(v) else v for k, v in metric.dimensions.items()
    }
    if not any(TOKEN.match(v) for v in dimensions.values()):
        return [dimensions]
    found = []
    listed = cloudwatch.list_metrics(Namespace=metric.namespace, MetricName=metric.name)
    for candidate in listed.get("Metrics", []):
        dims = {d["Name"]: d["Value"] for d in candidate.get("Dimensions", [])}
        if set(dims) != set(dimensions):
            continue
        if all(TOKEN.match(v) or dims[k] == v for k, v in dimensions.items()):
            found.append(dims)
    return found


@dataclass
class Drawn:
    """What one metric row of a widget got: its local dimensions and datapoints, or why
    it has none."""

    metric: MetricRef
    dimensions: list[dict[str, str]]
    series: list[tuple[list[datetime], list[float]]]
    note: str | None = None

    @property
    def datapoints(self) -> int:
        return sum(len(values) for _, values in self.series)

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.metric.namespace,
            "name": self.metric.name,
            "stat": self.metric.stat,
            "dimensions": self.dimensions,
            "datapoints": self.datapoints,
            "note": self.note,
        }


def _series(cloudwatch: Any, metric: MetricRef, start: datetime, end: datetime) -> Drawn:
    """Datapoints for ``metric`` (one series per concrete dimension set), or why none."""
    concrete = _concrete(cloudwatch, metric)
    series = []
    for dims in concrete if not PERCENTILE.match(metric.stat) else []:
        result = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": metric.namespace,
                            "MetricName": metric.name,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                        },
                        "Period": LOCAL_PERIOD,
                        "Stat": metric.stat,
                    },
                }
            ],
            StartTime=start,
            EndTime=end,
        )["MetricDataResults"][0]
        points = sorted(zip(result["Timestamps"], result["Values"], strict=True))
        if points:
            series.append(([t for t, _ in points], [v for _, v in points]))
    drawn = Drawn(metric, concrete, series)
    reasons = [why_not_local(metric.namespace, metric.name, dims) for dims in concrete]
    reason = next((r for r in reasons if r), None)
    if not series and reason:
        drawn.note = f"not emitted locally: {reason}"
    elif PERCENTILE.match(metric.stat):
        # moto keeps no value distributions, so a percentile cannot be computed locally.
        drawn.note = "percentiles are not computed locally (moto keeps no distributions)"
    return drawn


def _evaluate(
    expression: Expression, by_id: dict[str, list[tuple[list[datetime], list[float]]]]
) -> tuple[list[datetime], list[float]] | None:
    """``a <op> b`` over two single-series metrics, on the timestamps both have, or a
    per-second rate of one."""
    rate = RATE.match(expression.expression)
    if rate and len(by_id.get(rate.group(1), [])) <= 1:
        times, counts = (by_id.get(rate.group(1)) or [([], [])])[0]
        return times, [count / LOCAL_PERIOD for count in counts]
    match = BINARY.match(expression.expression)
    if not match or match.group(1) not in by_id or match.group(3) not in by_id:
        return None
    left, right = by_id[match.group(1)], by_id[match.group(3)]
    if len(left) != 1 or len(right) != 1:
        return None
    b_values = dict(zip(*right[0], strict=True))
    operator = match.group(2)
    times, values = [], []
    for t, a in zip(*left[0], strict=True):
        b = b_values.get(t)
        if b is None or (operator == "/" and b == 0):
            continue
        times.append(t)
        values.append({"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[operator])
    return times, values


def _draw(
    widget: Widget, cloudwatch: Any, start: datetime, end: datetime, png: Path, figure: Figure
) -> dict[str, Any]:
    """Draw one graph widget to ``png`` on ``figure`` (cleared first); returns its title,
    the number of lines drawn, the notes shown, and each metric's local datapoints."""
    import matplotlib.dates

    mdates: Any = matplotlib.dates  # untyped module: keep its calls out of mypy's way

    figure.clear()
    left_axis = figure.add_subplot()
    right_axis = None
    lines, rows = 0, []
    why: dict[str, list[str]] = {}  # note -> the labels it is about
    by_id: dict[str, list[tuple[list[datetime], list[float]]]] = {}
    for metric in widget.metrics:
        drawn = _series(cloudwatch, metric, start, end)
        rows.append(drawn.as_dict())
        series = drawn.series
        if drawn.note:
            why.setdefault(drawn.note, []).append(_short(metric.label))
        if metric.id:
            by_id[metric.id] = series
        if not metric.visible:
            continue
        axis = left_axis
        if metric.right:
            right_axis = right_axis or left_axis.twinx()
            axis = right_axis
        for times, values in series:
            axis.plot(mdates.date2num(times), values, marker=".", label=_short(metric.label))
            lines += 1
    for expression in widget.expressions:
        evaluated = _evaluate(expression, by_id)
        if evaluated is None:
            why.setdefault("math not evaluated locally", []).append(expression.label)
        elif evaluated[0]:
            times, values = evaluated
            left_axis.plot(mdates.date2num(times), values, marker=".", label=expression.label)
            lines += 1
    left_axis.set_title(widget.title, fontsize=9)
    left_axis.set_xlim(float(mdates.date2num(start)), float(mdates.date2num(end)))
    left_axis.tick_params(labelsize=7)
    left_axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    if lines:
        handles = [
            h for a in (left_axis, right_axis) if a for h in a.get_legend_handles_labels()[0]
        ]
        left_axis.legend(handles=handles, fontsize=6, loc="upper left")
    elif not why:
        why["no datapoints from the local run"] = []
    # One line per reason; a reason that covers the whole empty graph needs no labels.
    if len(why) == 1 and not lines:
        notes = list(why)
    else:
        notes = [f"{', '.join(dict.fromkeys(labels))}: {note}" for note, labels in why.items()]
    if notes:
        left_axis.text(
            0.5,
            0.5,
            "\n".join(textwrap.fill(note, NOTE_WIDTH) for note in notes),
            ha="center",
            va="center",
            fontsize=7,
            transform=left_axis.transAxes,
            color="dimgray",
        )
    # Fixed margins, the same for every graph (one size, one font): tight_layout measured
    # every text's extent per graph and took 40% of the page's drawing time.
    figure.subplots_adjust(left=0.11, right=0.89 if right_axis else 0.97, top=0.91, bottom=0.1)
    figure.savefig(png)
    return {"title": widget.title, "lines": lines, "notes": notes, "metrics": rows}


def _short(label: str) -> str:
    """A label without CloudWatch's dynamic parts, e.g. "P50 (avg: ${AVG})" -> "P50"."""
    return re.sub(r"\s*\([^)]*\$\{\w+\}[^)]*\)", "", label)


def _plain(markdown: str) -> str:
    """A header's text without markdown: links keep their text, emphasis is dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return text.replace("*", "").lstrip("# ").strip()


def _alarm_states(cloudwatch: Any, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    found = cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])
    states = {a["AlarmName"]: a["StateValue"] for a in found}
    return {name: states.get(name, "not created locally") for name in names}


@dataclass(frozen=True)
class RenderedDashboard:
    """The page written, the time range drawn, and per graph what it got."""

    path: Path
    start: datetime
    end: datetime
    graphs: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """For summary.json: the page, the range, and each graph's lines and notes."""
        return {
            "page": str(self.path),
            "range": [self.start.isoformat(), self.end.isoformat()],
            "graphs": self.graphs,
        }


def render_dashboard(
    cdk_out: Path,
    stage: str,
    cloudwatch_client: Any,
    out_html: Path,
    *,
    start: datetime | None = None,
) -> RenderedDashboard:
    """Write ``out_html`` (and its PNGs beside it) for ``stage``'s synthesized dashboard,
    drawn from ``start`` (default: the last 30 minutes) to now."""
    body = dashboard_body(cdk_out, stage)
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = (start or end - timedelta(minutes=30)).astimezone(UTC).replace(second=0, microsecond=0)
    images = out_html.parent / f"{out_html.stem}-widgets"
    images.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(stage)} operations dashboard (local)</title>",
        "<style>body{font-family:sans-serif;margin:16px}img{margin:4px;border:1px solid #ddd}"
        "h2{margin:16px 0 4px;font-size:16px}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:2px 8px}</style>",
        f"<h1>{html.escape(stage)} operations dashboard</h1>",
        f"<p>The synthesized CloudWatch dashboard ({html.escape(str(cdk_out))}), drawn from "
        f"the metrics this local run published to moto, {start:%H:%M}-{end:%H:%M} UTC. "
        "The AWS services' own metrics (SageMaker, Glue, Lambda) were put there by the "
        "local stand-ins that play those services, from what they measured in this run.</p>",
    ]
    graphs = []
    # One figure for every graph, cleared between them; drawn by Agg, no pyplot state.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 3.0), dpi=100)
    for index, widget in enumerate(widgets(body)):
        if widget.type == "text":
            parts.append(f"<h2>{html.escape(_plain(widget.markdown))}</h2>")
        elif widget.type == "metric":
            png = images / f"widget-{index:02d}.png"
            graph = _draw(widget, cloudwatch_client, start, end, png, figure)
            graphs.append(graph)
            parts.append(
                f"<img src='{images.name}/{png.name}' alt='{html.escape(widget.title)}' "
                f"data-lines='{graph['lines']}'>"
            )
        elif widget.type == "alarm":
            rows = "".join(
                f"<tr><td>{html.escape(n)}</td><td>{html.escape(s)}</td></tr>"
                for n, s in _alarm_states(cloudwatch_client, widget.alarms).items()
            )
            parts.append(f"<h2>{html.escape(widget.title)}</h2><table>{rows}</table>")
    out_html.write_text("\n".join(parts))
    return RenderedDashboard(out_html, start, end, graphs)
