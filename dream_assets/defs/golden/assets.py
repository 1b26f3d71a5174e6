"""The golden dataset: questions with reference answers and reference contexts.

Two sources: the human set from SQuAD v2.0 (the demo corpus' own questions) and a synthetic set
that ragas generates from the parsed documents over Ray tasks (`dream_assets.lib.golden.synthetic`);
a run takes one or both (column `golden_source`). Each version is stored under its content hash,
so every evaluation and MLflow run names the exact version it was scored on.
"""

from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout, package_data
from dream_assets.corpus import corpus_of
from dream_assets.defs.documents.assets import parsed_documents
from dream_assets.defs.golden.synthetic import generate_synthetic, sizing_rule
from dream_assets.defs.metadata import table_asset_metadata, table_metadata
from dream_assets.defs.readers import read_parsed_documents
from dream_assets.defs.workers import WorkerSettings
from dream_assets.hashing import content_hash
from dream_assets.lib.golden.alignment import align_contexts, alignment_counts
from dream_assets.lib.golden.splits import HELD_OUT, SELECTION, split_golden
from dream_assets.lib.golden.squad import read_squad, squad_golden_dataset
from dream_assets.lib.golden.synthetic_settings import SyntheticSettings
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.vector_stores import VectorStore

DEMO_SQUAD = package_data.DEMO_SQUAD


class GoldenDatasetConfig(dg.Config):
    """Where the golden questions come from, how many, and which are held out of the search."""

    source: Literal["human", "synthetic", "both"] = Field(
        default="human", description="`human` (SQuAD), `synthetic` (ragas over Ray tasks) or `both` side by side."
    )
    squad_path: str = Field(default=str(DEMO_SQUAD), description="SQuAD v2.0 (or v1.1) JSON with the human questions.")
    questions_per_document: int = Field(
        default=3,
        description="Seeded sample per document, either source (0 keeps every human question; synthetic: 3);"
        " with `sized_to_decision`, the synthetic set's first round.",
    )
    sized_to_decision: bool = Field(
        default=False,
        description="Synthetic: generate in rounds, scoring every configuration's retrieval tier on the current"
        " indexes after each, until tier 1 and the winner hold (or a budget is spent).",
    )
    round_questions_per_document: int = Field(default=2, description="Sized: questions per document of later rounds.")
    stable_rounds: int = Field(default=2, description="Sized: rounds tier 1 and the winner must hold for.")
    max_interval_width: float = Field(
        default=0.2, description="Sized: widest 95% interval of the winner's MRR at which the set is large enough."
    )
    max_generation_minutes: float = Field(default=18.0, description="Sized: generation's time budget, minutes.")
    max_llm_calls: int = Field(default=0, description="Sized: LLM-call budget (0: none).")
    seed: int = Field(default=0, description="Seed of the sample, of synthetic generation and of the held-out split.")
    generator_llm: str = Field(
        default="qwen2.5-coder-0.5b-instruct",
        description="LLM that writes synthetic questions (bundled name or a model of the OpenAI-compatible endpoint).",
    )
    documents_per_task: int = Field(default=3, description="Synthetic: documents per Ray task.")
    max_workers: int = Field(
        default=0, description="Synthetic: most Ray tasks at once (0: as many as the cluster runs)."
    )
    question_kinds: dict[str, float] = Field(
        default=SyntheticSettings.model_fields["kinds"].default,
        description="Synthetic: share of each kind of question (single_hop, paraphrased, multi_hop).",
    )
    chunk_size: int = Field(default=192, description="Synthetic: reference-context size in tokens.")
    max_attempts: int = Field(default=3, description="Synthetic: tries per item before it is recorded as failed.")
    languages: list[str] = Field(
        default=["en"],
        description="Document languages synthetic questions are asked in (ISO 639-1; others: `unsupported_language`).",
    )
    held_out_fraction: float = Field(
        default=0.3,
        description="Share of the questions held out of the search to score its winner without bias (0: none).",
    )
    split_unit: Literal["question", "document"] = Field(
        default="question", description="Hold out questions (stratified by document) or whole documents."
    )


@dg.asset(
    # a set sized to the decision is scored on the indexes' retrieval tier (`sized_to_decision`)
    deps=[parsed_documents, dg.AssetDep("embedding_index", partition_mapping=dg.AllPartitionMapping())],
    group_name="golden",
    kinds={"parquet", "ray"},
)
def golden_dataset(
    context: dg.AssetExecutionContext,
    config: GoldenDatasetConfig,
    object_store: ObjectStore,
    llms: LlmProvider,
    embeddings: EmbeddingProvider,
    ray_cluster: RayCluster,
    vector_store: VectorStore,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """Golden set (`golden_dataset/<version>/questions.parquet`, `contexts.parquet` and, for
    synthetic questions, `failures.parquet`): human SQuAD questions aligned to the parsed
    documents, synthetic questions from ragas' single-hop synthesizer, or both (`golden_source`
    says which). It is built on the golden parser's text (`SearchSpace.golden_parser`: the first
    of the search space's parsers); for every other parser of the search space its
    reference contexts are aligned into that parser's text (`contexts.<parser>.parquet`,
    `dream_assets.lib.golden.alignment`), with the counts per parser in the metadata.

    Columns follow ragas: `user_input`, `reference`, `reference_contexts`, `synthesizer_name`,
    plus `reference_context_ids`, `reference_answers`, `question_id`, `document_id`. The version
    is the content hash of both tables; `golden_dataset/current.json` points at it. Synthetic
    items that fail (malformed output after retries, ungrounded answer, duplicate) are counted
    by reason in the metadata, with examples, and listed in `failures.parquet`; LLM responses
    are cached under the Ray scratch directory, so a re-run asks nothing already answered.

    With `sized_to_decision`, the synthetic set is generated in rounds until the verdict it
    feeds has settled (`dream_assets.lib.golden.sizing`): after each round the retrieval tier of
    every configuration is scored on the corpus' current indexes (`RoundScorer`); each round's
    outcome and why generation stopped are in the metadata (`rounds`, `stopped_because`,
    `sizing`) and in `sizing.json` beside the questions.
    """
    store = object_store.client()
    corpus = corpus_of(context)
    documents = read_parsed_documents(context.instance, store, corpus, search_space.golden_parser)
    workers = WorkerSettings(object_store, embeddings, llms, vector_store, ray_cluster, search_space, corpus)
    parts, failures, metadata, sizing = _golden_parts(context, config, documents, workers)
    questions = pd.concat([q.assign(golden_source=name) for name, q, _ in parts], ignore_index=True)
    contexts = pd.concat([c.assign(golden_source=name) for name, _, c in parts], ignore_index=True)
    questions = _split(context, config, questions, metadata)
    version = content_hash([questions.to_dict(orient="records"), contexts.to_dict(orient="records")])
    prefix = layout.golden_prefix(version)
    store.write_parquet(f"{prefix}/questions.parquet", questions)
    store.write_parquet(f"{prefix}/contexts.parquet", contexts)
    if len(failures):
        store.write_parquet(f"{prefix}/failures.parquet", failures)
    if sizing:
        store.write_json(f"{prefix}/{layout.GOLDEN_SIZING}", sizing)
    metadata["alignment_by_parser"] = _align(context, store, contexts, prefix, corpus, search_space)
    metadata.update(_since_previous(store, corpus, questions))
    store.write_json(layout.golden_pointer(corpus), {"version": version, "prefix": prefix, "corpus": corpus})
    context.log.info("golden set %s: %d questions over %d documents", version, len(questions), len(documents))
    preview = questions[["golden_source", "split", "document_id", "user_input", "reference"]].head(10)
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "corpus": corpus or "(every document partition)",
            "uri": store.uri(prefix),
            "source": config.source,
            "questions": len(questions),
            "documents": len(documents),
            "contexts": len(contexts),
            **metadata,
            "preview": table_metadata(preview),
            **table_asset_metadata(questions),
        },
        data_version=dg.DataVersion(version),
    )


def _since_previous(store, corpus: str, questions: pd.DataFrame) -> dict:
    """Against the corpus' previous golden set: `questions_retired` (of documents no longer in
    the corpus), `questions_added` (new ids), `questions_moved` (kept ids whose split changed:
    0 when only documents were added, `dream_assets.lib.golden.splits`)."""
    pointer = layout.golden_pointer(corpus)
    if not store.exists(pointer):
        return {}
    previous = store.read_parquet(f"{store.read_json(pointer)['prefix']}/questions.parquet")
    current = set(questions["document_id"])
    kept = previous.merge(questions[["question_id", "split"]], on="question_id", suffixes=("", "_now"))
    return {
        "questions_retired": int((~previous["document_id"].isin(current)).sum()),
        "questions_added": int((~questions["question_id"].isin(previous["question_id"])).sum()),
        "questions_moved": int((kept["split"] != kept["split_now"]).sum()) if "split" in kept else 0,
    }


def _align(context, store, contexts: pd.DataFrame, prefix: str, corpus: str, space: SearchSpace) -> dict:
    """Aligns the reference contexts (`contexts.parquet`, the golden parser's text) into each
    other parser's text, writing `contexts.<parser>.parquet`; returns the counts (exact, fuzzy,
    missing) by parser."""
    counts = {space.golden_parser: {"exact": len(contexts), "fuzzy": 0, "missing": 0}}
    for parser in space.parsers:
        if parser == space.golden_parser:
            continue
        documents = read_parsed_documents(context.instance, store, corpus, parser)
        aligned = align_contexts(contexts, documents)
        store.write_parquet(layout.aligned_contexts_key(prefix, parser), aligned)
        counts[parser] = alignment_counts(aligned)
        context.log.info("golden contexts aligned into %s's text: %s", parser, counts[parser])
    return counts


def _golden_parts(context, config: GoldenDatasetConfig, documents, workers: WorkerSettings):
    """The golden set's parts by source, as (source, questions, contexts); the synthetic
    failures; the metadata of each source (counts, skips, LLM spend); and, for a set sized to
    the decision, its rounds and why they stopped (else {})."""
    parts, failures, metadata, sizing = [], pd.DataFrame(), {}, {}
    if config.source in ("human", "both"):
        squad = read_squad(config.squad_path)
        human = squad_golden_dataset(squad, documents, config.questions_per_document or None, config.seed)
        parts.append(("human", human.questions.assign(synthesizer_name="human"), human.contexts))
        metadata["human_questions"] = len(human.questions)
        metadata["human_skipped"] = human.skipped
        metadata["duplicate_questions_collapsed"] = human.collapsed
    if config.source in ("synthetic", "both"):
        synthetic = generate_synthetic(context, config, documents, workers)
        failures, questions = synthetic.failures, synthetic.golden.questions
        parts.append(("synthetic", questions, synthetic.golden.contexts))
        by_kind = questions.groupby("question_kind")["lexical_overlap"]
        metadata.update(
            synthetic_questions=len(questions),
            questions_by_kind={kind: int(n) for kind, n in by_kind.size().items()},
            lexical_overlap_by_kind={kind: round(float(mean), 3) for kind, mean in by_kind.mean().items()},
            failed_items=len(failures),
            failures_by_reason=synthetic.golden.skipped,
            failure_examples=table_metadata(_failure_examples(failures)),
            llm_requests=synthetic.llm_requests,
            llm_calls=synthetic.llm_calls,
            llm_tokens=synthetic.llm_tokens,
            llm_cost_usd=synthetic.llm_cost_usd,
            generation_seconds=round(synthetic.seconds, 1),
        )
        if synthetic.rounds:
            sizing = {"rounds": synthetic.rounds, "stopped_because": synthetic.stopped_because,
                      "note": synthetic.sizing_note, "rule": sizing_rule(config).model_dump()}  # fmt: skip
            metadata.update(
                stopped_because=synthetic.stopped_because,
                sizing=synthetic.sizing_note,
                rounds=table_metadata(pd.DataFrame(synthetic.rounds).drop(columns=["tier_1"])),
            )
    return parts, failures, metadata, sizing


def _split(context, config: GoldenDatasetConfig, questions: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """`questions` with their `split` (selection or held out, `split_golden`); the split's
    counts and description go into `metadata`."""
    split, split_note = split_golden(questions, config.held_out_fraction, config.seed, config.split_unit)
    questions = questions.assign(split=split)
    if split_note:
        context.log.warning("golden set: %s", split_note)
    counts = questions["split"].value_counts()
    metadata.update(
        selection_questions=int(counts.get(SELECTION, 0)),
        held_out_questions=int(counts.get(HELD_OUT, 0)),
        split=split_note or f"{config.held_out_fraction:.0%} held out by {config.split_unit}, seed {config.seed}",
    )
    return questions


def _failure_examples(failures: pd.DataFrame, count: int = 5) -> pd.DataFrame:
    columns = ["context_id", "attempts", "reason", "excerpt"]
    return pd.DataFrame(columns=columns) if failures.empty else failures[columns].head(count)
