"""Each golden question set embedded once per embedding model, content-addressed in the object
store, so that every configuration on that model retrieves from the same vectors instead of
embedding the questions again (`Retriever.retrieve_batch`'s `embeddings`)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable

import pandas as pd
from tqdm import tqdm

from dream_assets import layout

CACHE_COLUMNS = ["text_sha256", "embedding"]
# Questions embedded per call of the encoder when progress is reported (the bar moves once a batch).
PROGRESS_BATCH = 128


def ensure_query_embeddings(
    object_store, golden_version: str, embedding, on_progress: Callable[[int, int], object] | None = None
) -> int:
    """Embeds the questions of golden set `golden_version` with `embedding` and stores them at
    `layout.query_embeddings_key`, unless they are stored already. Texts the model embedded for
    an earlier golden set are taken from its text cache (`layout.query_text_cache_key`), so a
    golden set that grew by one document embeds that document's questions only.

    Args:
        object_store: `resources.object_store.ObjectStoreSettings` (this runs in a Ray task).
        golden_version: the golden set's version.
        embedding: `resources.embeddings.EmbeddingSettings` of the model.
        on_progress: called with (questions embedded so far, questions to embed) after each
            batch of `PROGRESS_BATCH`, when some are embedded now.

    Returns:
        Texts the encoder embedded now (counted from LlamaIndex's instrumentation events): the
        questions not in the text cache, 0 when the stored embeddings were reused.
    """
    from dream_assets.lib.stores.object_store import ObjectStoreClient

    store = ObjectStoreClient(object_store)
    key = layout.query_embeddings_key(golden_version, embedding.name)
    if store.exists(key):
        return 0
    questions = store.read_parquet(f"{layout.golden_prefix(golden_version)}/questions.parquet")
    shas = questions["user_input"].map(lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest())
    cache_key = layout.query_text_cache_key(embedding.name)
    cached = store.read_parquet(cache_key) if store.exists(cache_key) else pd.DataFrame(columns=CACHE_COLUMNS)
    known = dict(zip(cached["text_sha256"], cached["embedding"], strict=True))
    missing = questions.loc[~shas.isin(known), "user_input"].drop_duplicates()
    embedded = 0
    if len(missing):
        from dream_assets.lib.models.embeddings import make_embedding

        model = make_embedding(embedding)
        with count_embedded_texts() as counted:
            vectors = _embed(model, missing.tolist(), on_progress)
        embedded = counted()
        new = pd.DataFrame({"text_sha256": shas[missing.index].to_numpy(), "embedding": [list(v) for v in vectors]})
        known.update(zip(new["text_sha256"], new["embedding"], strict=True))
        store.write_parquet(cache_key, pd.concat([cached, new], ignore_index=True))
    table = pd.DataFrame({"question_id": questions["question_id"], "embedding": [list(known[sha]) for sha in shas]})
    store.write_parquet(key, table)
    return embedded


def _embed(model, texts: list[str], on_progress: Callable[[int, int], object] | None) -> list[list[float]]:
    """`model`'s embeddings of `texts`, in order; without `on_progress` in one call of the
    encoder, with it in batches of `PROGRESS_BATCH`, reporting (done, total) after each."""
    if on_progress is None:
        return model.get_text_embedding_batch(texts)
    vectors = []
    for start in range(0, len(texts), PROGRESS_BATCH):
        vectors.extend(model.get_text_embedding_batch(texts[start : start + PROGRESS_BATCH]))
        on_progress(len(vectors), len(texts))
    return vectors


def read_query_embeddings(store, golden_version: str, embedding_model: str) -> dict[str, list[float]] | None:
    """The stored embeddings of a golden set's questions by question id, or None when that model
    has none (`ensure_query_embeddings` was not run for it)."""
    key = layout.query_embeddings_key(golden_version, embedding_model)
    if not store.exists(key):
        return None
    table = store.read_parquet(key)
    return dict(zip(table["question_id"], table["embedding"].map(list), strict=True))


def _embedding_task(object_store, golden_version: str, embedding, progress) -> int:
    """`ensure_query_embeddings` in a Ray task, with torch using every CPU the task holds (a
    reused Ray worker keeps the one thread it started with), its progress put on `progress` (a
    `ray.util.queue.Queue`) as (model, done, total)."""
    from dream_assets.lib.models.threads import pin_threads

    pin_threads()

    def report(done: int, total: int) -> None:
        progress.put((embedding.name, done, total))

    return ensure_query_embeddings(object_store, golden_version, embedding, report)


class count_embedded_texts:  # noqa: N801 - used as a context manager, like contextlib's
    """Counts the texts every LlamaIndex embedding model in this process embeds while the block
    runs (its instrumentation's `EmbeddingEndEvent`s: one per batch, listing its texts);
    entering returns a callable giving the count so far."""

    def __enter__(self) -> Callable[[], int]:
        from llama_index.core.instrumentation import get_dispatcher
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent

        total = [0]

        class _Counter(BaseEventHandler):
            @classmethod
            def class_name(cls) -> str:
                return "DreamEmbeddingCounter"

            def handle(self, event, **kwargs) -> None:
                if isinstance(event, EmbeddingEndEvent):
                    total[0] += len(event.chunks)

        self._dispatcher = get_dispatcher()
        self._handler = _Counter()
        self._dispatcher.add_event_handler(self._handler)
        return lambda: total[0]

    def __exit__(self, *exc) -> None:
        self._dispatcher.event_handlers.remove(self._handler)


def embed_question_sets(object_store, golden_version: str, embeddings: list) -> dict[str, int]:
    """`ensure_query_embeddings` for each embedding model, one Ray task each, every task taking
    the CPUs of the smallest node with CPUs so that its encoder runs on all of them (measured on
    2 CPUs, MiniLM and mpnet on 2,906 questions: 179 s, against 270-291 s as two 1-CPU tasks),
    with a progress bar on stderr of the questions embedded by all of them (the tasks report
    through a Ray queue: workers' output does not reach the driver). Ray must be initialised.

    Returns:
        Texts embedded now, by model name (0 where the stored embeddings were reused).
    """
    import ray
    from ray.util.queue import Empty, Queue

    workers = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node["Alive"]]
    cpus = min((cpu for cpu in workers if cpu > 0), default=1.0)  # a KubeRay head may have no CPU
    task = ray.remote(num_cpus=max(1.0, cpus))(_embedding_task)
    progress = Queue()
    refs = {settings.name: task.remote(object_store, golden_version, settings, progress) for settings in embeddings}
    reported: dict[str, tuple[int, int]] = {}
    try:
        with tqdm(desc="question embeddings", unit="question", file=sys.stderr) as bar:
            waiting = list(refs.values())
            while waiting:
                _, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=1.0)
                while True:
                    try:
                        name, done, total = progress.get_nowait()
                    except Empty:
                        break
                    reported[name] = (done, total)
                if reported:
                    bar.total = sum(total for _, total in reported.values())
                    bar.update(sum(done for done, _ in reported.values()) - bar.n)
        return {name: int(count) for name, count in zip(refs, ray.get(list(refs.values())), strict=True)}
    finally:
        progress.shutdown()
