"""Nothing runs at import: importing any product module leaves ``os.environ`` as it was.

Each module is imported in one fresh interpreter (no test fixture has touched its
environment, and no AWS region is set, so a module that builds an AWS client at import
fails too); the environment is copied before each import and compared after it.
Lambda handlers are loaded by path with their folder first on ``sys.path``, as the
Lambda runtime loads them (``lambda`` is a keyword, never a package).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.unit.test_layering import ROOT, module_name, product_files

# Modules that import only where they run, with the reason; everything else must import.
NOT_HERE = {
    "bench.monitor_evidently": "needs evidently, installed in the bench's own environment",
    "local.serving.image.service_front": "runs in the XGBoost image with its folder on "
    "sys.path (imports data_capture by its bare name)",
}
# Libraries that write the environment when imported, imported before the first copy so
# that only our own modules are judged: scikit-learn sets KMP_DUPLICATE_LIB_OK and
# KMP_INIT_AT_FORK for its OpenMP runtime.
LIBRARIES = ("sklearn",)

IMPORT_EACH = r"""
import importlib, importlib.util, json, os, sys, traceback
for library in json.loads(sys.argv[2]):
    importlib.import_module(library)
results = {}
for name, path in json.loads(sys.argv[1]):
    before = dict(os.environ)
    try:
        if name.startswith("lambda."):
            folder = os.path.dirname(path)
            sys.path.insert(0, folder)
            try:
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(folder)
                # Sibling modules of this function (bare names) belong to it alone.
                for key in [k for k, m in sys.modules.items()
                            if getattr(m, "__file__", None)
                            and os.path.dirname(m.__file__) == folder]:
                    sys.modules.pop(key)
        else:
            importlib.import_module(name)
        error = None
    except BaseException:
        error = traceback.format_exc(limit=3)
    after = dict(os.environ)
    changed = {k: [before.get(k), after.get(k)] for k in before.keys() | after.keys()
               if before.get(k) != after.get(k)}
    results[name] = {"changed": changed, "error": error}
print(json.dumps(results))
"""


def test_importing_any_product_module_leaves_the_environment_alone() -> None:
    modules = [
        (module_name(path), str(path))
        for path in product_files()
        if module_name(path) not in NOT_HERE
    ]
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EC2_METADATA_DISABLED")
    }
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, json.dumps(modules), json.dumps(LIBRARIES)],
        cwd=ROOT,
        env={**environment, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=1200,
        check=True,
    )
    results = json.loads(done.stdout.splitlines()[-1])
    assert set(results) == {name for name, _ in modules}
    failed = {name: r["error"] for name, r in results.items() if r["error"]}
    assert failed == {}
    changed = {name: r["changed"] for name, r in results.items() if r["changed"]}
    assert changed == {}


def test_every_skipped_module_exists() -> None:
    assert set(NOT_HERE) <= {module_name(path) for path in product_files()}
