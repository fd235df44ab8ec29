"""The run-wide results of tests/shared_work.py: built by the first worker that asks,
read by every other, and a failed build reported to them rather than waited on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.shared_work import Result, SharedWork, run_root


def test_two_workers_share_one_build(tmp_path: Path) -> None:
    builds: list[Path] = []
    started, release = threading.Event(), threading.Event()

    def build(work: Path) -> Result:
        builds.append(work)
        started.set()
        release.wait(10)  # the second worker asks while this build is under way
        (work / "model.ubj").write_text("trained")
        return {"model_dir": work, "log": "done"}

    first, second = SharedWork(tmp_path), SharedWork(tmp_path)  # one per worker
    answers: list[Result] = []
    builder = threading.Thread(target=lambda: answers.append(first.get("model", build)))
    builder.start()
    assert started.wait(10)
    waiter = threading.Thread(target=lambda: answers.append(second.get("model", build)))
    waiter.start()
    release.set()
    builder.join(10)
    waiter.join(10)
    assert builds == [tmp_path / "model"]
    assert answers == [{"model_dir": tmp_path / "model", "log": "done"}] * 2
    assert (Path(answers[1]["model_dir"]) / "model.ubj").read_text() == "trained"


def test_a_failed_build_is_reported_to_the_other_workers(tmp_path: Path) -> None:
    def broken(work: Path) -> Result:
        raise ValueError("training diverged")

    with pytest.raises(ValueError, match="training diverged"):
        SharedWork(tmp_path).get("model", broken)
    with pytest.raises(RuntimeError, match=r"(?s)failed in another worker:.*training diverged"):
        SharedWork(tmp_path).get("model", broken)


def test_the_run_root_is_shared_by_xdist_workers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert run_root(tmp_path / "popen-gw1") == tmp_path
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert run_root(tmp_path) == tmp_path
