"""Ray retrieval actors on local Ray: a pool of 2 actors found by name from 3 concurrent tasks
returns exactly the in-process retriever's top-k, and spreads the calls over both actors."""

import json

import pytest

from dream_assets.defs.golden.assets import DEMO_SQUAD
from dream_assets.hashing import slugify
from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets.lib.retrieval.index_spec import IndexSpec
from dream_assets.lib.retrieval.indexes import build_index
from dream_assets.lib.retrieval.methods.chunks import ChunksMethod
from dream_assets.lib.retrieval.methods.sentence_window import SentenceWindowMethod
from dream_assets.lib.retrieval.pool import PoolRetriever, connect_pool, start_pool
from dream_assets.lib.retrieval.retriever import Retriever
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings
from dream_assets_tests.conftest import DEMO_PDFS
from resources.embeddings import EmbeddingProvider

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _questions(titles: list[str], count: int) -> list[str]:
    squad = json.loads(DEMO_SQUAD.read_text())
    return [
        qa["question"]
        for article in squad["data"]
        if article["title"] in titles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ][:count]


def _clients(pool_name: str, batches: list[list[str]], top_k: int) -> list:
    import ray

    @ray.remote(num_cpus=0)
    def client(batch: list[str]) -> list[list[str]]:
        pool = connect_pool(pool_name)  # discovered by name, as another job would
        results = [pool.retrieve(batch[:4], top_k), pool.retrieve(batch[4:], top_k)]
        return [[context.node_id for context in contexts] for part in results for contexts in part]

    return ray.get([client.remote(batch) for batch in batches])


@pytest.mark.parametrize("method", [ChunksMethod(chunk_size=256, chunk_overlap=32), SentenceWindowMethod()])
def test_pool_of_two_actors_matches_the_in_process_retriever(tmp_path, models_dir, ray_session, method):
    import ray

    names = ("Normans", "Steam_engine")
    documents = [parse_pdf(slugify(name), (DEMO_PDFS / f"{name}.pdf").read_bytes()) for name in names]
    settings = EmbeddingProvider(models_dir=str(models_dir)).settings_for("all-MiniLM-L6-v2")
    embed_model = make_embedding(settings)
    build_index(documents, method, embed_model, tmp_path / "index")
    store_settings = ObjectStoreSettings(root=str(tmp_path / "store"))
    ObjectStoreClient(store_settings).upload_dir(tmp_path / "index", "embedding_index/test/v1")
    spec = IndexSpec(method=method, embedding=settings, object_store=store_settings,
                     index_prefix="embedding_index/test/v1", scratch_dir=str(tmp_path / "scratch"))  # fmt: skip

    questions = _questions(list(names), 24)
    batches = [questions[i : i + 8] for i in range(0, 24, 8)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    assert connect_pool("test-pool") is None
    pool = start_pool("test-pool", spec, actors=2)
    try:
        served = _clients("test-pool", batches, top_k=3)
        local = Retriever(tmp_path / "index", method, embed_model, top_k=3)
        expected = [[c.node_id for c in local.retrieve(q)] for q in questions]
        assert [ids for batch in served for ids in batch] == expected
        assert all(len(ids) == 3 for ids in expected)
        # the trial-side adapter gives the same contexts, texts and spans included; scores agree
        # to float precision (one query embedded alone in-process, in a batch of one by the pool)
        pooled, alone = PoolRetriever(pool, 3).retrieve(questions[0]), local.retrieve(questions[0])
        spans = [[(c.node_id, c.start, c.end, c.text) for c in contexts] for contexts in (pooled, alone)]
        assert spans[0] == spans[1]
        assert [c.score for c in pooled] == pytest.approx([c.score for c in alone], abs=1e-5)
        health = pool.health()
        assert [actor["actor"] for actor in health] == ["test-pool-0", "test-pool-1"]
        assert sum(actor["calls"] for actor in health) == 7 and all(actor["calls"] >= 3 for actor in health)
        assert len({actor["pid"] for actor in health}) == 2
    finally:
        pool.shutdown()
