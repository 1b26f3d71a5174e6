"""The synthetic golden set's use of ragas: a term extractor over ragas' knowledge graph, the
seeded scenarios (kind, contexts spread over the document, term, persona, style, length) of
each document, ragas' synthesizers with DREAM's prompts, and the tries of one item. The prompts
are `dream_assets.lib.golden.synthetic_prompts`; the Ray fan-out is
`dream_assets.lib.golden.synthetic`; what is kept, `dream_assets.lib.golden.synthetic_filters`."""

from __future__ import annotations

import asyncio
import random

import pandas as pd

from dream_assets.lib.golden.synthetic_filters import context_chunks, key_terms, rejection_reason
from dream_assets.lib.golden.synthetic_prompts import (
    ParaphraseInput,
    multi_hop_prompt,
    paraphrase_prompt,
    query_answer_prompt,
)
from dream_assets.lib.golden.synthetic_settings import QUESTION_KINDS, SyntheticSettings
from dream_assets.lib.llm.failures import GenerationError
from dream_assets.plugins.parsers import ParsedDocument


def term_extractor(max_terms: int):
    """A ragas `Extractor` that sets each node's `entities` to its `key_terms` (no LLM call;
    ragas' `NERExtractor` asks the LLM, which a small local model answers poorly)."""
    from ragas.testset.transforms.base import Extractor

    class TermExtractor(Extractor):
        async def extract(self, node):  # noqa: D102 - see the enclosing docstring
            return "entities", key_terms(node.get_property("page_content") or "", max_terms)

    return TermExtractor(filter_nodes=lambda node: True)


def kind_quota(count: int, kinds: dict[str, float]) -> list[str]:
    """`count` kinds in `QUESTION_KINDS` order, each kind's number `count` times its share by
    largest remainder (Hamilton's method; ties to the earlier kind)."""
    total = sum(kinds.values())
    shares = {kind: count * kinds.get(kind, 0.0) / total for kind in QUESTION_KINDS}
    numbers = {kind: int(share) for kind, share in shares.items()}
    by_remainder = sorted(QUESTION_KINDS, key=lambda kind: -(shares[kind] - numbers[kind]))
    for kind in by_remainder[: count - sum(numbers.values())]:
        numbers[kind] += 1
    return [kind for kind in QUESTION_KINDS for _ in range(numbers[kind])]


def _partner(row: dict, candidates: list[dict]) -> tuple[dict | None, str]:
    """The context nearest to `row` in the document that shares one of its terms (a ragas
    `entities_overlap` pair), and the shared term; (None, '') if none does."""
    terms = set(row["terms"])
    others = [other for other in candidates if other["context_id"] != row["context_id"] and terms & set(other["terms"])]
    if not others:
        return None, ""
    other = min(others, key=lambda other: (abs(other["start"] - row["start"]), other["start"]))
    shared = [term for term in row["terms"] if term in other["terms"]]
    return other, shared[0]


def scenarios(document_id: str, chunks: pd.DataFrame, settings: SyntheticSettings, count: int) -> list[dict]:
    """The seeded draw of one document's `count` items: the contexts with terms are cut into
    `count` runs of consecutive contexts and one is drawn from each (stratified by position, so
    questions cover the whole document); each item gets a kind (`kind_quota`, in a seeded
    order), a term, persona, style and length; a multi-hop item also the nearest context sharing
    one of its terms (`partner`; without one it is asked as single-hop). Seeded by (seed,
    document id), so it does not depend on batching."""
    import numpy as np
    from ragas.testset.synthesizers.base import QueryLength, QueryStyle

    styles = [QueryStyle[name] for name in settings.query_styles]
    rng = random.Random(f"{settings.seed}:{document_id}")
    candidates = [row for row in chunks.to_dict(orient="records") if row["terms"]]
    count = min(count, len(candidates))
    strata = np.array_split(np.arange(len(candidates)), count) if count else []
    chosen = [candidates[int(rng.choice(list(stratum)))] for stratum in strata]
    kinds = kind_quota(count, settings.kinds)
    rng.shuffle(kinds)
    items = []
    for row, kind in zip(chosen, kinds, strict=True):
        item = {**row, "kind": kind, "partner": None}
        item["term"] = rng.choice(row["terms"][:3])
        if kind == "multi_hop":
            item["partner"], shared = _partner(row, candidates)
            item["kind"], item["term"] = ("multi_hop", shared) if shared else ("single_hop", item["term"])
        item.update(
            persona=rng.choice(settings.personas), style=rng.choice(styles), length=rng.choice(list(QueryLength))
        )
        items.append(item)
    return items


def document_contexts(document: ParsedDocument, settings: SyntheticSettings) -> tuple[pd.DataFrame, dict]:
    """A document's reference contexts with their `terms`, and the same as ragas `CHUNK` nodes
    of a `KnowledgeGraph` whose `entities` are their key terms (by context id)."""
    from ragas.testset.graph import KnowledgeGraph, Node, NodeType
    from ragas.testset.transforms import apply_transforms

    chunks = context_chunks(document, settings.chunk_size, settings.chunk_overlap)
    nodes = [
        Node(type=NodeType.CHUNK, properties={"page_content": text, "document_metadata": {"id": context_id}})
        for context_id, text in zip(chunks["context_id"], chunks["text"], strict=True)
    ]
    apply_transforms(KnowledgeGraph(nodes=nodes), term_extractor(settings.max_terms))
    chunks = chunks.assign(terms=pd.Series([node.get_property("entities") for node in nodes], index=chunks.index))
    return chunks, dict(zip(chunks["context_id"], nodes, strict=True))


def capacity(document: ParsedDocument, settings: SyntheticSettings) -> int:
    """Most questions a document can be asked: its contexts with a term to ask about (the
    terms `document_contexts` gives its ragas nodes, without building the graph)."""
    chunks = context_chunks(document, settings.chunk_size, settings.chunk_overlap)
    return sum(bool(key_terms(text, settings.max_terms)) for text in chunks["text"])


def item_contexts(item: dict) -> list[dict]:
    """The contexts an item's question is about: its own, and its partner's for a multi-hop one."""
    return [item] if item["partner"] is None else [item, item["partner"]]


def item_text(item: dict) -> str:
    """The text of an item's contexts (`item_contexts`), joined by a space."""
    return " ".join(context["text"] for context in item_contexts(item))


def synthesizer_for(synthesizers: dict, item: dict):
    """The ragas synthesizer of `make_synthesizers` that writes an item of its kind (a
    paraphrased item is written single-hop, then rewritten)."""
    return synthesizers["multi_hop" if item["kind"] == "multi_hop" else "single_hop"]


def document_items(document: ParsedDocument, settings: SyntheticSettings, count: int) -> tuple[list, pd.DataFrame]:
    """A document's `count` seeded items (`scenarios`) with their ragas scenarios:
    [(item, `SingleHopScenario` or `MultiHopScenario`)], and the contexts with their `terms`."""
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers.multi_hop.base import MultiHopScenario
    from ragas.testset.synthesizers.single_hop.base import SingleHopScenario

    chunks, by_id = document_contexts(document, settings)
    items = []
    for item in scenarios(document.document_id, chunks, settings, count):
        common = {
            "nodes": [by_id[context["context_id"]] for context in item_contexts(item)],
            "persona": Persona(name=item["persona"][0], role_description=item["persona"][1]),
            "style": item["style"],
            "length": item["length"],
        }
        if item["kind"] == "multi_hop":
            items.append((item, MultiHopScenario(combinations=[item["term"]], **common)))
        else:
            items.append((item, SingleHopScenario(term=item["term"], **common)))
    return items, chunks


def make_synthesizers(llm) -> dict:
    """Ragas' single-hop and multi-hop specific query synthesizers with DREAM's prompts, and the
    paraphrase prompt, on `llm` (a ragas LLM)."""
    from ragas.testset.synthesizers.multi_hop.specific import MultiHopSpecificQuerySynthesizer
    from ragas.testset.synthesizers.single_hop.specific import SingleHopSpecificQuerySynthesizer

    return {
        "single_hop": SingleHopSpecificQuerySynthesizer(llm=llm, generate_query_reference_prompt=query_answer_prompt()),
        "multi_hop": MultiHopSpecificQuerySynthesizer(llm=llm, generate_query_reference_prompt=multi_hop_prompt()),
        "paraphrase": paraphrase_prompt(),
    }


def _generate(synthesizers: dict, llm, item: dict, scenario):
    """One attempt at an item: ragas' synthesizer of its kind, then for a paraphrased item the
    rewrite of the question (the reference answer stays)."""
    sample = asyncio.run(synthesizer_for(synthesizers, item).generate_sample(scenario))
    if item["kind"] == "paraphrased":
        rewritten = asyncio.run(
            synthesizers["paraphrase"].generate(llm=llm, data=ParaphraseInput(question=sample.user_input))
        )
        sample.user_input = rewritten.question
    return sample


def ask_item(synthesizers: dict, llm, item: dict, scenario, settings: SyntheticSettings):
    """Tries one item up to `settings.max_attempts` times, the first greedy, the others at
    `retry_temperature` with seed `seed + attempt`; each attempt is checked by
    `rejection_reason` against the item's contexts and kind. Returns (sample or None, the last
    failure reason or '', an excerpt of the last output, attempts made)."""
    sample, reason, excerpt = None, "", ""
    context = item_text(item)
    for attempt in range(1, settings.max_attempts + 1):
        llm.temperature = 0.0 if attempt == 1 else settings.retry_temperature
        llm.seed = settings.seed + attempt - 1
        try:
            sample = _generate(synthesizers, llm, item, scenario)
        except GenerationError as error:  # the LLM gateway's retries spent: its reason first
            cause = error.__cause__
            sample, excerpt = None, ""
            reason = f"{error.reason}: {error.attempts} tries; {type(cause).__name__}: {cause}"[:300]
            continue
        except Exception as error:  # noqa: BLE001 - every failure is recorded with its reason
            sample, reason, excerpt = None, f"{type(error).__name__}: {error}"[:300], ""
            continue
        excerpt = f"Q: {sample.user_input} | A: {sample.reference}"[:300]
        reason = rejection_reason(sample.user_input, sample.reference, context, settings, item["kind"])
        if not reason:
            return sample, "", excerpt, attempt
    return None, reason, excerpt, settings.max_attempts
