"""Expensive results built once per test run and shared by every pytest-xdist worker.

A session fixture is built once per worker: with two workers a model is trained twice.
Here the first worker to ask claims the result (a file created with O_EXCL in a folder
every worker of the run shares, as tests/synth_cache.py does for synths), builds it in
that folder and writes it down; the others wait for it and read it. A result is a dict
of strings and paths: readers must treat what the paths hold as read-only.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.synth_cache import claim, write_atomically

Result = dict[str, str | Path]
# A worker that died mid-build leaves its claim behind: fail rather than wait forever.
WAIT_SECONDS = 30 * 60


def run_root(base: Path) -> Path:
    """The folder every worker of this run shares: the parent of a worker's base temp
    (pytest-xdist gives each worker one under the run's), else the base temp itself."""
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


class SharedWork:
    """Results of this run by name, built on first use under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memo: dict[str, Result] = {}

    def get(self, name: str, build: Callable[[Path], Result]) -> Result:
        """The result ``name``: built here by ``build(work_dir)`` unless another worker has
        built it or is building it (then waited for)."""
        if name in self._memo:
            return self._memo[name]
        done = self.root / f"{name}.json"
        deadline = time.monotonic() + WAIT_SECONDS
        while not done.exists():
            if self._claim(name):
                self._build(name, build, done)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no worker finished building {name!r}")
            time.sleep(0.5)
        saved = json.loads(done.read_text())
        if "error" in saved:
            raise RuntimeError(f"building {name!r} failed in another worker:\n{saved['error']}")
        result: Result = {
            key: Path(value["path"]) if isinstance(value, dict) else value
            for key, value in saved["result"].items()
        }
        self._memo[name] = result
        return result

    def _claim(self, name: str) -> bool:
        return claim(self.root, name)

    def _build(self, name: str, build: Callable[[Path], Result], done: Path) -> None:
        work = self.root / name
        work.mkdir()
        try:
            result = build(work)
        except BaseException:
            write_atomically(done, json.dumps({"error": traceback.format_exc()}))
            raise
        encoded = {
            key: {"path": str(value)} if isinstance(value, Path) else value
            for key, value in result.items()
        }
        write_atomically(done, json.dumps({"result": encoded}))
