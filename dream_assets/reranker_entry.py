"""The fine-tuned reranker as an MLflow pyfunc model, by models from code: MLflow copies this file
into the logged model and runs it on load.

Why pyfunc and not MLflow's `sentence_transformers` flavour: that flavour saves and loads a
`SentenceTransformer` (a bi-encoder) and predicts with `encode`; DREAM's reranker is a
`CrossEncoder`, which would load back as a bi-encoder giving embeddings, not relevance scores
(MLflow 3.17, `mlflow/sentence_transformers/__init__.py`).
"""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

RERANKER_ARTIFACT = "reranker"


class RerankerModel(PythonModel):
    """Scores (query, passage) pairs with the fine-tuned cross-encoder.

    Input: a DataFrame with string columns `query` and `passage`, one pair per row.
    Output: one relevance score per row (the cross-encoder's logit; higher is more relevant),
    as a list of floats in row order.
    """

    def load_context(self, context) -> None:  # noqa: D102 - MLflow's hook: loads the model files
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(context.artifacts[RERANKER_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> list[float]:  # noqa: D102  # pyright: ignore[reportIncompatibleMethodOverride] - MLflow reads the type hints
        pairs = list(zip(model_input["query"], model_input["passage"], strict=True))
        return [float(score) for score in self.model.predict(pairs)] if pairs else []


def reranker_signature():
    """The model's signature: `query` and `passage` strings in, a double score out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "query"), ColSpec("string", "passage")]),
        outputs=Schema([ColSpec("double")]),
    )


mlflow.models.set_model(RerankerModel())
