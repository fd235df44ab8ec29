"""One container of the SageMaker XGBoost 3.2-0 image, on this machine (a local stand-in).

A container sees what it would see in SageMaker, and nothing of this checkout's:

* ``/opt/venv``: the image's Python stack (``.venv-xgboost``, built from the image's own
  lock) under a private writable layer (overlayfs), so what the toolkit ``pip install``s
  lands in this container alone, never in the image; unless ``LOCAL_IMAGE_BYTECODE=none``,
  with the LOCAL layer of its compiled bytecode between the two (``bytecode.py``: it
  spares the compile at each start, changes nothing that runs);
* ``/opt/ml``: the job's own folder, staged by "the service" (inputs in, outputs out);
* the environment: the image's ``ENV`` (``image.json``), the ``Environment`` the template
  declares and what SageMaker sets (``SM_*``, ``TRAINING_JOB_NAME``, ...); a container
  that is not network isolated also gets the AWS endpoint and credentials (moto here,
  the execution role's in the cloud);
* no network but its own loopback when the template isolates it (``unshare -n``);
* a private ``/tmp``; no pip configuration file, as in the image (this machine's pip
  configuration points at a local mirror the image does not have); an empty
  ``$HOME/.cache`` and ``$HOME/.config`` (the image builds no caches there: a job that
  draws a plot builds matplotlib's font list at start, as in SageMaker, where this
  machine's would save it about 4 s).

Linux namespaces do it without root (``unshare -rm``: a user and a mount namespace). The
stand-in's own commands (``local/serving/image``: the image's ``train`` and ``serve``) are
mounted at ``/opt/local-image``; ``/opt/local-container`` is the service's side of the
fence (the serving front's settings, the runtime record this module reads back).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_VENV = REPO_ROOT / ".venv-xgboost"
RECORD = Path(__file__).with_name("image.json")
# A LOCAL speed-up that is not in the image: compiled bytecode of the image environment's
# sources, mounted over it (local/image/bytecode.py). LOCAL_IMAGE_BYTECODE=none: without.
BYTECODE_LAYER = REPO_ROOT / ".venv-xgboost-bytecode" / "venv"
BYTECODE_SETTING = "LOCAL_IMAGE_BYTECODE"
BYTECODE_CHOICES = ("layer", "none")
COMMANDS = REPO_ROOT / "local" / "serving" / "image"
# Inside the container.
VENV = "/opt/venv"
COMMANDS_DIR = "/opt/local-image"
SERVICE_DIR = "/opt/local-container"
# The base image's PATH is not in the Dockerfile: the system folders stand in for it.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What a container that is not network isolated gets to reach AWS (moto here).
AWS_ACCESS = re.compile(
    r"^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|ENDPOINT_URL(_[A-Z0-9_]+)?)$"
)
# What the container's first command records about itself (read back by ``runtime``).
RUNTIME_PROBE = (
    "import json, platform, sys; json.dump({'executable': sys.executable, "
    "'python': platform.python_version(), 'prefix': sys.prefix}, "
    f"open('{SERVICE_DIR}/runtime.json', 'w'))"
)
# This machine's pip configuration files (pip's global, site-wide and user locations):
# hidden, since the image has none.
# (The user's ~/.config/pip is under the container's own empty ~/.config.)
PIP_CONFIGS = " ".join(["/etc/pip.conf", "/etc/xdg/pip/pip.conf", "/root/.pip/pip.conf"])
# $1: the image's lower layers (colon-separated), $2..$6: the folders, $7: isolated or
# not (see ``command``). The mounts are private.
SETUP = f"""set -eu
mount -t tmpfs -o mode=755 tmpfs /opt
mkdir {VENV} /opt/ml {COMMANDS_DIR} {SERVICE_DIR}
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" {VENV}
mount --bind "$4" /opt/ml
mount --bind "$5" {COMMANDS_DIR}
mount --bind "$6" {SERVICE_DIR}
mount -t tmpfs -o mode=1777 tmpfs /tmp
for own in /root/.cache /root/.config; do
  mkdir -p "$own"
  mount -t tmpfs -o mode=700 tmpfs "$own"
done
for conf in {PIP_CONFIGS}; do
  if [ -f "$conf" ]; then mount --bind /dev/null "$conf"; fi
done
isolated="$7"
shift 7
# An isolated container's own loopback works, as in SageMaker; nothing else is there.
if [ "$isolated" = 1 ] && command -v ip >/dev/null; then ip link set lo up; fi
python3 -c "{RUNTIME_PROBE}"
cd /
exec "$@"
"""


@dataclass(frozen=True)
class ImageRecord:
    """The image as built: its source commit, Python and ``ENV`` (``image.json``)."""

    repository: str
    path: str
    commit: str
    python: str
    environment: Mapping[str, str]

    @property
    def label(self) -> str:
        return f"{self.repository}/{self.path}@{self.commit[:7]} (Python {self.python})"


@cache
def image_record() -> ImageRecord:
    """The recorded image (read once per process)."""
    data: dict[str, Any] = json.loads(RECORD.read_text())
    source = data["source"]
    return ImageRecord(
        repository=source["repository"],
        path=source["path"],
        commit=source["commit"],
        python=data["python"],
        environment=dict(data["environment"]),
    )


def image_environment(record: ImageRecord) -> dict[str, str]:
    """The image's ``ENV``, with the base image's values it extends filled in."""
    filled = {"${PATH}": SYSTEM_PATH, ":${LD_LIBRARY_PATH}": ""}
    environment = {}
    for name, value in record.environment.items():
        for placeholder, base in filled.items():
            value = value.replace(placeholder, base)
        environment[name] = value
    return environment


def precompiled_by_default() -> bool:
    """Whether a container mounts the LOCAL bytecode layer: when it is built, unless
    ``LOCAL_IMAGE_BYTECODE=none`` asks for the image's own start."""
    choice = os.environ.get(BYTECODE_SETTING, "layer")
    if choice not in BYTECODE_CHOICES:
        raise ValueError(f"{BYTECODE_SETTING}={choice!r}: one of {', '.join(BYTECODE_CHOICES)}")
    return choice == "layer" and BYTECODE_LAYER.is_dir()


@dataclass(frozen=True)
class Container:
    """A container's folders on this machine: ``root/opt/ml`` is its ``/opt/ml``."""

    root: Path
    isolated: bool
    # The LOCAL bytecode layer over /opt/venv (it caches compiling, changes nothing run).
    precompiled: bool = field(default_factory=precompiled_by_default)

    @property
    def opt_ml(self) -> Path:
        return self.root / "opt" / "ml"

    @property
    def service_dir(self) -> Path:
        """Host side of ``/opt/local-container``."""
        return self.root / "service"

    def environment(
        self,
        declared: Mapping[str, str],
        *,
        sagemaker: Mapping[str, str] | None = None,
        platform: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The image's ``ENV``, then the template's ``declared`` environment, then what
        SageMaker sets; AWS access from ``platform`` only when not isolated."""
        access = {} if self.isolated else _aws_access(platform or {})
        return {
            **image_environment(image_record()),
            **declared,
            **(sagemaker or {}),
            **access,
            "HOME": "/root",
        }

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this container (``python3`` is the image's)."""
        if not (IMAGE_VENV / "bin" / "python").exists():
            raise FileNotFoundError(
                f"{IMAGE_VENV} is missing: `make install` builds the XGBoost image environment"
            )
        upper, work = self.root / "layer" / "upper", self.root / "layer" / "work"
        for folder in (upper, work, self.opt_ml, self.service_dir):
            folder.mkdir(parents=True, exist_ok=True)
        image = [BYTECODE_LAYER, IMAGE_VENV] if self.precompiled else [IMAGE_VENV]
        folders = [upper, work, self.opt_ml, COMMANDS, self.service_dir]
        # The container's /opt is a fresh tmpfs: what it mounts cannot live under /opt.
        hidden = [f for f in image + folders if f.resolve().is_relative_to("/opt")]
        if hidden:
            raise ValueError(f"a local container cannot mount folders under /opt: {hidden}")
        return [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            *(["--net"] if self.isolated else []),
            "/bin/sh",
            "-c",
            SETUP,
            "container",
            # overlayfs's lower layers, the top one first
            ":".join(str(layer.resolve()) for layer in image),
            *(str(folder.resolve()) for folder in folders),
            str(int(self.isolated)),
            *argv,
        ]

    def runtime(self) -> dict[str, str]:
        """What the container's Python said of itself when it started, with the image."""
        probe = self.service_dir / "runtime.json"
        recorded: dict[str, str] = json.loads(probe.read_text()) if probe.exists() else {}
        return {
            **recorded,
            "image": image_record().label,
            "isolated": str(self.isolated),
            "bytecode": "layer" if self.precompiled else "none",
        }


def host_path(opt_ml: Path, path: str) -> Path:
    """Where a container's ``/opt/ml/...`` ``path`` is on this machine, ``opt_ml`` being
    the host side of its ``/opt/ml``."""
    if not path.startswith("/opt/ml/"):
        raise ValueError(f"not a path under /opt/ml/: {path}")
    return opt_ml / path.removeprefix("/opt/ml/")


def outside_environment(**extra: str) -> dict[str, str]:
    """The environment to run the image's Python on this machine outside a container
    (a version check, a timing): the system PATH and the image's own bytecode setting,
    so that nothing is written into the environment the containers mount as the image."""
    setting = image_record().environment["PYTHONDONTWRITEBYTECODE"]
    return {"PATH": SYSTEM_PATH, "PYTHONDONTWRITEBYTECODE": setting, **extra}


def describe_runtime(runtime: Mapping[str, str]) -> str:
    """One line for a person: the interpreter, the image record, the network, and the
    LOCAL bytecode layer when the container mounted it."""
    network = "no network" if runtime.get("isolated") == "True" else "network"
    bytecode = ", LOCAL precompiled bytecode" if runtime.get("bytecode") == "layer" else ""
    return (
        f"Python {runtime.get('python', '?')} ({runtime.get('executable', '?')}), "
        f"{runtime.get('image', '?')}, {network}{bytecode}"
    )


def _aws_access(platform: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in platform.items() if AWS_ACCESS.match(name)}


def run(
    container: Container,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    log: Path,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in ``container`` to the end, its output in ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        return subprocess.run(
            container.command(argv),
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
