"""The SageMaker XGBoost framework image (3.2-0) as far as our code meets it.

Runs inside a local container of the image (``local/image/container.py``: the image's
Python stack at ``/opt/venv``, mounted here at ``/opt/local-image``), started by path,
so only this folder is importable besides the installed packages and the user code.
sagemaker-containers does the work; this module wires it the way the image does
(aws/sagemaker-xgboost-container, ``training.py`` and ``serving.py``), standing in for
the image's own ``sagemaker_xgboost_container`` wheel, which is not on PyPI:

``train``
    The image's ``train`` command: sagemaker-containers' trainer with the image's
    training module (here ``run_training``), which downloads ``sagemaker_submit_directory``
    into ``/opt/ml/code``, ``pip install``s it and runs ``python -m <sagemaker_program>``
    with the hyperparameters as arguments. The trainer writes ``/opt/ml/output/failure``
    and exits non-zero when the program fails.
``serve``
    What ``server.start`` does before gunicorn (download, install and import the user
    module), then gunicorn with the image's worker settings (gevent workers,
    ``SAGEMAKER_MODEL_SERVER_TIMEOUT``) on the socket the service hands over. Each worker
    builds ``serving_app()``: the user module's hooks resolved as
    ``_user_module_transformer`` resolves them, the model loaded once, sagemaker-containers'
    ``Worker`` serving ``/ping`` and ``/invocations``, behind ``service_front`` (what
    SageMaker itself does in front of the container: the 6 MB limit and data capture).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
HOOKS = ("input_fn", "predict_fn", "output_fn")


def run_training() -> None:
    """The image's training module for a user script (``training.train`` in its source)."""
    from sagemaker_containers.beta import framework

    environment = framework.training_env()
    if environment.user_entry_point is None:
        raise RuntimeError(
            "no sagemaker_program: the image's built-in algorithm mode is not used here"
        )
    framework.modules.run_module(
        environment.module_dir,
        environment.to_cmd_args(),
        environment.to_env_vars(),
        environment.module_name,
        capture_error=False,
    )


def train() -> None:
    """The image's ``train`` command: the toolkit's trainer with ``run_training``."""
    os.environ["SAGEMAKER_TRAINING_MODULE"] = f"{Path(__file__).stem}:run_training"
    from sagemaker_containers import _trainer

    _trainer.train()  # exits the process with the job's status


def user_module_transformer(module: ModuleType) -> Any:
    """The user module's hooks as the image resolves them (``_user_module_transformer``):
    ``transform_fn`` alone, or the input/predict/output trio, never both."""
    from sagemaker_containers.beta.framework import transformer

    model_fn = getattr(module, "model_fn", transformer.default_model_fn)
    transform_fn = getattr(module, "transform_fn", None)
    trio = {name: getattr(module, name, None) for name in HOOKS}
    if transform_fn is not None and any(trio.values()):
        raise ValueError(
            "Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn"
        )
    if transform_fn is not None:
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    missing = [name for name, hook in trio.items() if hook is None]
    if missing:
        # The image would fall back to its own XGBoost encoders here, which are not part of
        # the PyPI toolkit; our models always bring their hooks.
        raise ValueError(f"the user module defines no transform_fn and lacks {missing}")
    return transformer.Transformer(model_fn=model_fn, **trio)


def serving_app(front: str = "") -> Any:
    """One gunicorn worker's WSGI app (the image's ``serving.main``), behind the front
    configured by the JSON file ``front`` (the service's settings, not the container's);
    without ``front``, the container's app alone, as the image serves it."""
    import service_front
    from sagemaker_containers.beta.framework import env, worker

    serving_env = env.ServingEnv()
    module = importlib.import_module(serving_env.module_name)
    transformer = user_module_transformer(module)
    transformer.initialize()  # model_fn(/opt/ml/model), once per worker
    app = worker.Worker(transform_fn=transformer.transform, module_name=serving_env.module_name)
    if not front:
        return app
    return service_front.ServiceFront.from_env(app, json.loads(Path(front).read_text()))


def serve(listener: int, workers: int | None, front: str) -> None:
    """``server.start`` on the socket the service passed as file descriptor ``listener``:
    install and import the user module, then gunicorn. ``workers`` stands in for the
    instance's size (the toolkit's default is one per CPU)."""
    from sagemaker_containers import _env, _modules
    from sagemaker_containers.beta.framework import env

    # The image's default (serving.set_default_serving_env_if_unspecified): one OpenMP
    # thread per worker process.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    serving_env = env.ServingEnv()
    _modules.import_module(serving_env.module_dir, serving_env.module_name)
    workers = workers or serving_env.model_server_workers
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--timeout",
        str(serving_env.model_server_timeout),
        "-k",
        "gevent",
        "--pythonpath",
        ",".join([*sys.path, _env.code_dir]),
        "-b",
        f"fd://{listener}",
        "--worker-connections",
        str(1000 * workers),
        "-w",
        str(workers),
        "--log-level",
        "warning",
        "--config",
        str(HERE / "gunicorn_hooks.py"),
        f"{Path(__file__).stem}:serving_app({front!r})",
    ]
    os.execv(command[0], command)


def main(argv: list[str] | None = None) -> None:
    """``xgboost_image.py train`` or ``xgboost_image.py serve --fd N [--workers N]
    [--front FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train")
    serving = commands.add_parser("serve")
    serving.add_argument("--fd", type=int, required=True, help="the listening socket")
    serving.add_argument("--workers", type=int, default=None)
    serving.add_argument(
        "--front", default="", help="the service front's settings (JSON); none: no front"
    )
    args = parser.parse_args(argv)
    if args.command == "train":
        train()
    else:
        serve(args.fd, args.workers, args.front)


if __name__ == "__main__":
    main()
