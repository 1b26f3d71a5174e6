"""The MLflow models-from-code entry of `dream_assets.serving.RagModel`: MLflow copies this file
into the logged model and runs it on load, so the model is code from this package, never a
pickled object."""

import mlflow

from dream_assets.serving import RagModel

mlflow.models.set_model(RagModel())
