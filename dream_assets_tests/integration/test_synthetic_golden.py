"""The synthetic golden set through the Dagster asset: ragas generation in real Ray tasks with
the bundled model, spread over the worker nodes of the multi-node cluster, failure accounting
against an OpenAI-compatible server that returns garbage, the LLM cache, which each node keeps
on its own disk (a second materialisation gives the same set, its hits counted), and a set sized
to the decision, generated in rounds scored on real indexes until its budget or its stability
rule stops it."""

import json
import logging
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets.lib.golden.synthetic_settings import QUESTION_KINDS, SYNTHETIC_COLUMNS
from dream_assets_tests.chain import metadata as _metadata
from dream_assets_tests.chain import run_job as _run
from dream_assets_tests.chain import table_rows_of
from dream_assets_tests.servers import start_openai_stub
from resources.llm import LlmProvider
from resources.ray_cluster import RayCluster

BAIKAL = Path(__file__).resolve().parents[1] / "data" / "non-english" / "baikal.pdf"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "pdf-samples"
pytestmark = [pytest.mark.integration, pytest.mark.slow]

BLOCKING_CHECKS = {
    "golden_dataset_is_not_empty",
    "golden_dataset_has_no_duplicate_questions",
    "golden_dataset_references_are_grounded",
}


def _definitions(tmp_path, pdf_folder, models_dir, api_base=None, ray_address=None, search_space=None, llm_table=None):
    (pdf_folder / "broken.pdf").unlink()
    resources = local_resources(tmp_path / "state", str(pdf_folder))
    # a new resource, not `model_copy`: Dagster resources keep their construction arguments
    table = {"llm_table": str(llm_table)} if llm_table else {}
    resources["llms"] = LlmProvider(models_dir=str(models_dir), api_base=api_base, **table)
    if ray_address:
        resources["ray_cluster"] = RayCluster(
            address=ray_address, storage_path=str(tmp_path / "ray_results"), scratch_dir=str(tmp_path / "scratch")
        )
    return build_definitions(resources, None, search_space), resources


def _generate(defs, instance, **config):
    run_config = {"ops": {"golden_dataset": {"config": {"source": "synthetic", "documents_per_task": 1, **config}}}}
    return _run(defs, instance, "golden_job", run_config=run_config)


def _golden_tables(resources, version):
    store = resources["object_store"].client()
    prefix = f"golden_dataset/{version}"
    return store.read_parquet(f"{prefix}/questions.parquet"), store.read_parquet(f"{prefix}/contexts.parquet")


def test_bundled_model_in_ray_tasks_grounded_accounted_and_cached(
    tmp_path, pdf_folder, models_dir, ray_head, ray_session
):
    defs, resources = _definitions(tmp_path, pdf_folder, models_dir, ray_address=ray_head.address)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("documents", ["1973-oil-crisis", "normans"])
        _run(defs, instance, "ingest_job", ["1973-oil-crisis", "normans"])
        first_run = _generate(defs, instance, questions_per_document=2)
        first = _metadata(first_run, "golden_dataset")
        questions, contexts = _golden_tables(resources, first["version"])

        # every planned item (2 documents x 2) is either a question or a recorded failure
        assert first["synthetic_questions"] + first["failed_items"] == 4
        assert sum(first["failures_by_reason"].values()) == first["failed_items"]
        assert len(questions) == first["synthetic_questions"] > 0
        assert set(SYNTHETIC_COLUMNS) <= set(questions.columns)
        assert set(questions["golden_source"]) == {"synthetic"}
        assert questions["question_id"].is_unique
        # the kinds, counted in the metadata with their lexical overlap
        assert set(questions["question_kind"]) <= set(QUESTION_KINDS)
        assert first["questions_by_kind"] == questions["question_kind"].value_counts().to_dict()
        assert set(first["lexical_overlap_by_kind"]) == set(first["questions_by_kind"])
        hops = questions["question_kind"].map(lambda kind: "multi_hop" if kind == "multi_hop" else "single_hop")
        assert (questions["synthesizer_name"] == hops + "_specific_query_synthesizer").all()
        # grounded: each reference context is its catalogued span of the parsed text, two for a
        # multi-hop question
        store = resources["object_store"].client()
        documents = {d: store.read_json(layout.parsed_document_key(d))["text"] for d in ("1973-oil-crisis", "normans")}
        spans = contexts.set_index("context_id")
        for row in questions.itertuples():
            assert len(row.reference_context_ids) == (2 if row.question_kind == "multi_hop" else 1)
            for context_id, text in zip(row.reference_context_ids, row.reference_contexts, strict=True):
                span = spans.loc[context_id]
                assert documents[row.document_id][span.start : span.end] == text
        checks = {c.check_name: c for c in first_run.get_asset_check_evaluations()}
        assert BLOCKING_CHECKS <= set(checks) and all(checks[name].passed for name in BLOCKING_CHECKS)
        assert first["llm_calls"] > 0
        # one Ray task per document, one on each worker node, each caching on its own disk
        nodes = sorted(node.name for node in ray_head.workers)
        assert sorted(ray_head.nodes_that_ran("generate_batch", at_least=2)) == nodes
        assert all(list(node.scratch.rglob("responses.sqlite3")) for node in ray_head.workers)
        assert not (tmp_path / "scratch").exists()

        second = _metadata(_generate(defs, instance, questions_per_document=2), "golden_dataset")
        # a document generated on the other node this time misses that node's cache and asks
        # again; the greedy model gives the same set either way
        assert second["version"] == first["version"]  # same inputs and seed: the same set
        assert second["llm_requests"] == first["llm_requests"] and second["llm_calls"] <= first["llm_calls"]
        placement = ray_head.nodes_that_ran("generate_batch", at_least=4)
        assert sum(placement.values()) == 4, placement
        hits = 1 - second["llm_calls"] / second["llm_requests"]
        logging.getLogger(__name__).warning("second run: %s, cache hit rate %.2f", placement, hits)


def _stub_reply(body: dict) -> tuple[int, str]:
    """Garbage for every prompt about the Normans; for the other document garbage on the
    greedy first attempt, then a grounded question built from the prompt's own input."""
    prompt = body["messages"][-1]["content"]
    if "Norman" in prompt or body.get("temperature", 0) == 0:
        return 200, "Sure! Here is your question: what is it?"
    given = json.loads(re.search(r"input: (\{.*\})\s*Output:\s*$", prompt, re.DOTALL).group(1))
    words = given["context"].split()
    question = f"What is told of {given['term']} and {words[1]}?"
    return 200, json.dumps({"query": question, "answer": " ".join(words[:10])})


def test_malformed_output_is_retried_recorded_and_does_not_stop_the_asset(
    tmp_path, pdf_folder, models_dir, ray_session
):
    shutil.copy(BAIKAL, pdf_folder / "baikal.pdf")  # Russian: asked nothing, recorded why
    documents = ["1973-oil-crisis", "baikal", "normans"]
    stub = start_openai_stub(_stub_reply)
    # the shipped retry budget (4 tries), with waits of milliseconds instead of seconds
    table = tmp_path / "llms.yaml"
    table.write_text("default: {max_attempts: 4, backoff_s: 0.01, max_backoff_s: 0.05}\n")
    try:
        defs, resources = _definitions(tmp_path, pdf_folder, models_dir, api_base=stub.url, llm_table=table)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("documents", documents)
            _run(defs, instance, "ingest_job", documents)
            options = {"generator_llm": "stub-model", "max_attempts": 3, "question_kinds": {"single_hop": 1.0}}
            golden = _metadata(_generate(defs, instance, questions_per_document=2, **options), "golden_dataset")
    finally:
        stub.stop()
    questions, _ = _golden_tables(resources, golden["version"])
    store = resources["object_store"].client()
    failures = store.read_parquet(f"golden_dataset/{golden['version']}/failures.parquet")
    # the budget, 2 questions for each of the 3 documents, goes to the two English ones by length
    asked = questions["document_id"].tolist() + failures.loc[failures["attempts"] > 0, "document_id"].tolist()
    assert len(asked) == 6 and {"1973-oil-crisis", "normans"} == set(asked)
    # the oil-crisis items failed once (garbage at temperature 0) and then succeeded
    assert set(questions["document_id"]) == {"1973-oil-crisis"}
    # the Normans items are recorded with their reason after every attempt, not dropped
    normans = int((failures["document_id"] == "normans").sum())
    assert normans > 0 and golden["failed_items"] == 1 + normans
    assert list(failures["document_id"]) == ["baikal"] + ["normans"] * normans
    assert list(failures["attempts"]) == [0] + [3] * normans
    # output that never fits ragas' response model: retried by the LLM gateway, then recorded
    assert all(reason.startswith("malformed_response: 4 tries; ValidationError") for reason in failures["reason"][1:])
    assert golden["failures_by_reason"] == {"malformed_response": normans, "unsupported_language": 1}
    assert "'ru'" in failures["excerpt"][0]
    assert not any("Байкал" in json.dumps(r, ensure_ascii=False) for r in stub.requests)
    # retried: more requests reached the server than items were planned
    assert len(stub.requests) == golden["llm_calls"] > 4
    assert {r["model"] for r in stub.requests} == {"stub-model"}


# Two retrievers and two top-ks over one small index: four configurations whose retrieval tier
# takes a second per round.
SIZING_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 192, chunk_overlap: 0}
embedding_models: [all-MiniLM-L6-v2@onnx-int8]
llms: [gemma-3-270m]
top_k: [1, 3]
retrievers: [vector, bm25]
"""


def _echo_reply(body: dict) -> tuple[int, str]:
    """A single-hop question built from the prompt's own context: its term and the words that
    open the context, answered by them (grounded, and found again by retrieval)."""
    prompt = body["messages"][-1]["content"]
    given = json.loads(re.search(r"input: (\{.*\})\s*Output:\s*$", prompt, re.DOTALL).group(1))
    words = given["context"].split()
    opening = " ".join(words[:10]).replace("?", "")
    question = f"What do we know about {given['term']} and {opening}"[:140].rstrip() + "?"
    return 200, json.dumps({"query": question, "answer": " ".join(words[:10])})


def test_a_set_sized_to_the_decision_stops_on_its_budget_or_once_tier_1_and_the_winner_hold(
    tmp_path, pdf_folder, models_dir, ray_session
):
    from dream_assets.partitions import sweep_partitions
    from dream_assets.search_space import load_search_space

    for name in ("google-doc-document.pdf", "pdfkit.pdf"):
        shutil.copy(SAMPLES / name, pdf_folder / name)
    documents = ["1973-oil-crisis", "google-doc-document", "normans", "pdfkit"]
    (tmp_path / "space.yaml").write_text(SIZING_SPACE)
    space = load_search_space(tmp_path / "space.yaml")
    stub = start_openai_stub(_echo_reply)
    try:
        defs, resources = _definitions(tmp_path, pdf_folder, models_dir, api_base=stub.url, search_space=space)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("documents", documents)
            _run(defs, instance, "ingest_job", documents)
            _run(defs, instance, "index_job", sweep_partitions(space).embedding_indexes.get_partition_keys())
            options = {"generator_llm": "stub-model", "question_kinds": {"single_hop": 1.0}, "sized_to_decision": True,
                       "questions_per_document": 2, "round_questions_per_document": 2}  # fmt: skip

            # the budget binds: another round as costly as the first would pass 5 LLM calls
            budget = _metadata(_generate(defs, instance, **options, max_llm_calls=5), "golden_dataset")
            assert budget["stopped_because"] == "llm_call_budget"
            rounds = table_rows_of(budget["rounds"])
            assert len(rounds) == 1 and rounds[0]["llm_calls"] == budget["llm_calls"] > 0
            assert rounds[0]["configurations"] == 4 and rounds[0]["questions"] == budget["synthetic_questions"] > 0
            assert budget["sizing"].startswith("synthetic questions generated in 1 round (")
            assert "stopped: another round would pass the LLM-call budget (5 calls)" in budget["sizing"]

            # stability binds: generation goes on until tier 1 and the winner held for 2 rounds
            stable = _metadata(_generate(defs, instance, **options, max_interval_width=0.5), "golden_dataset")
    finally:
        stub.stop()
    assert stable["stopped_because"] == "stable"
    rounds = table_rows_of(stable["rounds"])
    assert len(rounds) >= 3 and [row["round"] for row in rounds] == list(range(1, len(rounds) + 1))
    questions = [row["questions"] for row in rounds]
    assert questions == sorted(set(questions)) and questions[-1] == stable["synthetic_questions"]
    store = resources["object_store"].client()
    sizing = store.read_json(f"golden_dataset/{stable['version']}/sizing.json")
    assert sizing["stopped_because"] == "stable" and sizing["note"] == stable["sizing"]
    last = sizing["rounds"][-3:]
    assert len({row["winner"] for row in last}) == 1 and len({tuple(row["tier_1"]) for row in last}) == 1
    assert sizing["rounds"][-1]["ci95_high"] - sizing["rounds"][-1]["ci95_low"] <= 0.5
    # every round drew its questions from other contexts: the set covers more of each document
    questions, _ = _golden_tables(resources, stable["version"])
    first_round = table_rows_of(budget["rounds"])[0]["questions"]
    assert questions["reference_context_ids"].map(lambda ids: ids[0]).nunique() > first_round
    assert "the LLM-call budget" not in stable["sizing"] and "held for 2 rounds" in stable["sizing"]
