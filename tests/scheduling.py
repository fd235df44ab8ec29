"""The order the collected tests run in: the long ones first, spread over the workers.

pytest-xdist's ``worksteal`` hands each worker one contiguous share of the collection
(the first ``n // workers`` items to the first worker, and so on) and later moves the
tail of a busy worker's queue to an idle one. A long test that a worker reaches last
leaves the other core idle while it ends, and a share holding most of the long tests
ends long after the other. So the known long tests (``LONG``, from ``make test``'s
``--durations``) are dealt to the shares longest first, each to the share with the
least long work so far (the longest-processing-time rule), and each share starts with
its long tests; the short tests fill the shares in collection order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

# Node id -> seconds it took in an installed `make test` on 2 cores (call + setup, a setup
# that builds a result shared by the run included). Refresh from the --durations table
# when the order of magnitude changes; a test missing here runs among the short ones.
LONG: dict[str, float] = {
    "tests/e2e/test_local_run.py::test_local_run_lifecycle_and_monitoring_loop": 100,
    "tests/e2e/test_own_data.py::test_lifecycle_on_public_raw_files[iris]": 68,
    "tests/e2e/test_own_data.py::test_lifecycle_on_public_raw_files[titanic]": 65,
    "tests/contract/test_endpoint_fuzz.py::test_the_corpus_is_large_and_covers_every_class": 45,
    "tests/e2e/test_own_data.py::test_lifecycle_on_public_raw_files[taxis]": 41,
    (
        "tests/infrastructure/test_scanners.py::"
        "test_checkov_passes_every_synthesized_template_but_fails_an_insecure_one"
    ): 38,
    (
        "tests/security/test_least_privilege.py::"
        "test_every_role_is_exercised_and_nothing_it_does_is_denied"
    ): 37,
    (
        "tests/e2e/test_training_pipeline.py::"
        "test_pipeline_registers_a_version_with_metrics_and_baselines"
    ): 29,
    (
        "tests/faults/test_etl_interrupted.py::"
        "test_curated_rebuild_killed_mid_write_then_rerun_is_the_same"
    ): 26,
    (
        "tests/integration/test_monitor.py::test_monitor_run_publishes_metrics_reports_and_feedback"
    ): 24,
    (
        "tests/unit/test_import_side_effects.py::"
        "test_importing_any_product_module_leaves_the_environment_alone"
    ): 21,
    (
        "tests/infrastructure/test_dataset_context.py::"
        "test_pipeline_steps_read_the_chosen_schema[taxis-Dev]"
    ): 19,
    (
        "tests/infrastructure/test_dataset_context.py::"
        "test_pipeline_steps_read_the_chosen_schema[house_prices-Dev]"
    ): 17,
    (
        "tests/infrastructure/test_isolation_and_iam.py::"
        "test_every_service_role_trust_names_its_account_and_source[Dev-vpc]"
    ): 17,
    (
        "tests/e2e/test_training_pipeline.py::"
        "test_model_worse_than_the_approved_one_is_not_registered"
    ): 15,
    (
        "tests/integration/test_monitor.py::"
        "test_a_run_repeated_from_the_same_checkpoint_gives_the_same_result"
    ): 13,
    "tests/contract/test_multiclass_serving.py::test_csv_json_and_json_lines_answers": 13,
}

Item = TypeVar("Item")


def seconds(node_id: str) -> float | None:
    """The recorded seconds of the test ``node_id``, or None when it is not a long one."""
    return LONG.get(node_id)


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
    timed = [(seconds(node_id), position) for position, node_id in enumerate(node_ids)]
    long = sorted(
        ((value, position) for value, position in timed if value is not None),
        key=lambda pair: (-pair[0], pair[1]),
    )
    short = [items[position] for value, position in timed if value is None]
    heads: list[list[Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    sizes = share_sizes(len(items), workers)
    for value, position in long:
        open_shares = [i for i in range(workers) if len(heads[i]) < sizes[i]]
        target = min(open_shares, key=lambda i: (loads[i], i))
        heads[target].append(items[position])
        loads[target] += value
    ordered: list[Item] = []
    for head, size in zip(heads, sizes, strict=True):
        fill = size - len(head)
        ordered += head + short[:fill]
        short = short[fill:]
    return ordered
