"""MLflow's model registry, as DREAM uses it: a pyfunc model from code logged on a run and
registered as a new version (the winner, the fine-tuned reranker), versions found by a tag, and
MLflow's fluent API pointed at a tracking URI for one block (`fluent_tracking_uri`)."""

from __future__ import annotations

import contextlib
import warnings


class ModelRegistry:
    """The registry operations of `MlflowTracking` (which gives `client()` and `tracking_uri`)."""

    def client(self):
        """An `MlflowClient` of the tracking store (the class that mixes this in gives it)."""
        raise NotImplementedError

    def log_pyfunc_model(
        self,
        run_id: str,
        python_model: str,
        artifacts: dict[str, str],
        registered_model_name: str,
        signature,
        name: str = "rag_model",
    ) -> str:
        """Logs the pyfunc model defined by the file `python_model` (MLflow's models from code)
        with its `artifacts` and `signature` as logged model `name` of run `run_id`, and registers a
        new version of `registered_model_name`; returns that version (`models:/<name>/<version>`).
        Requirements: this project's package (the model imports it), not an inference that would
        load the model to guess them. No input example: MLflow would load the model
        (index and LLM) to check it, and the model's storage credentials come from the serving
        environment; `dream serve` and its test exercise it instead."""
        from importlib.metadata import version

        import mlflow

        info = None
        with fluent_tracking_uri(getattr(self, "tracking_uri")):  # noqa: B009 - the class mixing this in has it
            with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
                warnings.filterwarnings("ignore", ".*An input example was not provided", UserWarning, r"mlflow\.")
                info = mlflow.pyfunc.log_model(
                    name=name,
                    python_model=python_model,
                    artifacts=artifacts,
                    signature=signature,
                    pip_requirements=[f"dream=={version('dream')}"],
                    registered_model_name=registered_model_name,
                )
        if info is None:
            raise RuntimeError(f"MLflow logged no model on run {run_id}")
        return str(info.registered_model_version)

    def find_model_version(self, name: str, tag: str, value: str) -> str | None:
        """The version of registered model `name` whose tag `tag` is `value`, or None (no such
        model, or no such version)."""
        for found in self.client().search_model_versions(f"name = '{name}'"):
            if found.tags.get(tag) == value:
                return str(found.version)
        return None

    def tag_model_version(self, name: str, version: str, tag: str, value: str) -> None:
        """Sets a tag on one version of a registered model."""
        self.client().set_model_version_tag(name, version, tag, value)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Points alias `alias` of registered model `name` at `version` (`models:/<name>@<alias>`)."""
        self.client().set_registered_model_alias(name, alias, version)


@contextlib.contextmanager
def fluent_tracking_uri(uri: str):
    """Points MLflow's fluent API (and its trace exporter, which has no client) at `uri` for the
    block, then restores the process' previous setting (unset stays unset)."""
    import mlflow

    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # pyright: ignore[reportArgumentType] - None unsets it again
