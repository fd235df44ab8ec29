"""The order the collected tests run in: the long ones first, spread over the workers.

pytest-xdist's ``worksteal`` hands each worker one contiguous share of the collection
(the first ``n // workers`` items to the first worker, and so on) and later moves the
tail of a busy worker's queue to an idle one. A long test that a worker reaches last
leaves the other core idle while it ends, and a share holding most of the long tests
ends long after the other. So the known long tests (``LONG``, from ``make test``'s
``--durations``) are dealt to the shares longest first, each to the share with the
least long work so far (the longest-processing-time rule), and each share starts with
its long tests; the short tests fill the shares in collection order. An entry may name
a whole file instead of a test: its tests share a module fixture (one pipeline's
executions, one least-privilege run), so they are dealt as one unit and stay on one
worker, which builds the fixture once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

# Node id, or a file whose tests share an expensive module fixture -> seconds it took in
# an installed `make test` on 2 cores (call + setup, a setup that builds a result shared
# by the run included). Refresh from the --durations table when the order of magnitude
# changes; a test missing here runs among the short ones.
LONG: dict[str, float] = {
    "tests/e2e/test_local_run.py::test_local_run_lifecycle_and_monitoring_loop": 81,
    "tests/e2e/test_own_data.py::test_lifecycle_on_public_raw_files[penguins]": 55,
    "tests/e2e/test_own_data.py::test_lifecycle_on_public_raw_files[titanic]": 44,
    "tests/e2e/test_own_data.py::test_lifecycle_on_public_raw_files[taxis]": 39,
    (
        "tests/infrastructure/test_scanners.py::"
        "test_checkov_passes_every_synthesized_template_but_fails_an_insecure_one"
    ): 35,
    "tests/contract/test_xgboost_image_serving.py": 38,
    "tests/security/test_least_privilege.py": 29,
    "tests/integration/test_monitor.py": 20,
    "tests/e2e/test_training_pipeline.py": 29,
    "tests/contract/test_xgboost_image_training.py": 21,
    "tests/contract/test_endpoint_fuzz.py": 16,
    (
        "tests/unit/test_import_side_effects.py::"
        "test_importing_any_product_module_leaves_the_environment_alone"
    ): 10,
    (
        "tests/faults/test_etl_interrupted.py::"
        "test_curated_rebuild_killed_mid_write_then_rerun_is_the_same"
    ): 15,
    "tests/contract/test_multiclass_serving.py": 19,
    (
        "tests/integration/test_etl_value_rules.py::"
        "test_the_job_judges_every_value_as_the_value_rules_do"
    ): 11,
    (
        "tests/infrastructure/test_dataset_context.py::"
        "test_pipeline_steps_read_the_chosen_schema[house_prices-Dev]"
    ): 8,
    "tests/contract/test_endpoint_overload.py": 11,
}

Item = TypeVar("Item")


def unit(node_id: str) -> str | None:
    """The ``LONG`` entry ``node_id`` belongs to (itself, or its file), or None."""
    if node_id in LONG:
        return node_id
    path = node_id.split("::", 1)[0]
    return path if path in LONG else None


def share_sizes(count: int, workers: int) -> list[int]:
    """How many of ``count`` items each worker is first given, as worksteal splits them."""
    sizes, remaining = [], count
    for index in range(workers):
        size = remaining // (workers - index)
        sizes.append(size)
        remaining -= size
    return sizes


def long_first(items: Sequence[Item], node_ids: Sequence[str], workers: int) -> list[Item]:
    """``items`` (with their node ids) reordered for ``workers`` worksteal workers."""
    workers = max(workers, 1)
    units: dict[str, list[Item]] = {}
    short: list[Item] = []
    for item, node_id in zip(items, node_ids, strict=True):
        key = unit(node_id)
        if key is None:
            short.append(item)
        else:
            units.setdefault(key, []).append(item)
    heads: list[list[Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    sizes = share_sizes(len(items), workers)
    for key in sorted(units, key=lambda k: -LONG[k]):  # stable: collection order on ties
        members = units[key]
        fits = [i for i in range(workers) if len(heads[i]) + len(members) <= sizes[i]]
        target = min(fits or range(workers), key=lambda i: (loads[i], i))
        heads[target] += members
        loads[target] += LONG[key]
    ordered: list[Item] = []
    for index, head in enumerate(heads):
        # A share's size is what worksteal first sends it: the heads take their place.
        fill = max(sizes[index] - len(head), 0)
        ordered += head + short[:fill]
        short = short[fill:]
    return ordered + short
