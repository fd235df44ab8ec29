"""Start a process "inside" the SageMaker XGBoost image, on this machine.

The image's Python stack is the ``.venv-xgboost`` environment (``make install`` builds it
from ``requirements-xgboost-image.txt``); its entry points are ``local/serving/image/``, started by
path so that nothing of this checkout is importable in the container but what the job
downloads. Each container gets its own ``/opt/ml`` (``SAGEMAKER_BASE_DIR``) and its own
folder for what sagemaker-containers ``pip install``s from the user code (``PIP_TARGET``,
put on ``PYTHONPATH`` as the image's site-packages would be). That install runs offline
(no index, no build isolation: the image environment has setuptools and wheel), so a
local run never reaches for the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_PYTHON = REPO_ROOT / ".venv-xgboost" / "bin" / "python"
IMAGE_ENTRY = Path(__file__).resolve().parent / "image" / "xgboost_image.py"
# What the project's own environment must not pass into the image's processes.
NOT_INHERITED = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")


def image_command(*arguments: str) -> list[str]:
    """``xgboost_image.py`` with ``arguments``, run by the image's interpreter."""
    if not IMAGE_PYTHON.exists():
        raise FileNotFoundError(
            f"{IMAGE_PYTHON} is missing: `make install` builds the XGBoost image environment"
        )
    return [str(IMAGE_PYTHON), str(IMAGE_ENTRY), *arguments]


def container_env(
    base: Mapping[str, str], opt_ml: Path, extra: Mapping[str, str]
) -> dict[str, str]:
    """The environment of one container whose ``/opt/ml`` is ``opt_ml``."""
    site_packages = opt_ml.parent / "site-packages"
    site_packages.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in base.items() if k not in NOT_INHERITED}
    return {
        **inherited,
        **extra,
        "SAGEMAKER_BASE_DIR": str(opt_ml),
        "PYTHONPATH": str(site_packages),
        "PIP_TARGET": str(site_packages),
        "PIP_NO_INDEX": "1",
        # pip's inverted switch: "0" turns build isolation off.
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def remap(path: str, opt_ml: Path) -> str:
    """A container path under ``/opt/ml/`` moved under the local ``opt_ml``."""
    return path.replace("/opt/ml/", f"{opt_ml}/", 1) if path.startswith("/opt/ml/") else path
