"""The endpoint, locally: the model package staged and served by the SageMaker XGBoost image's
own serving stack, with data capture. ``image/`` is not part of this package: its modules run
by path under the image's environment (``.venv-xgboost``)."""
