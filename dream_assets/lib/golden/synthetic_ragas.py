"""The synthetic golden set's use of ragas: its single-hop query-and-answer prompt with bounds a
grammar can enforce and an encyclopaedic example, a term extractor over ragas' knowledge graph,
the seeded scenarios (term, persona, style, length) of each document, and the tries of one item
through ragas' synthesizer. The Ray fan-out is `dream_assets.lib.golden.synthetic`; what is kept,
`dream_assets.lib.golden.synthetic_filters`."""

from __future__ import annotations

import asyncio
import random

import pandas as pd
from pydantic import BaseModel, Field

from dream_assets.lib.golden.synthetic_filters import context_chunks, key_terms, rejection_reason
from dream_assets.lib.golden.synthetic_settings import DEFAULT_PERSONAS, SyntheticSettings
from dream_assets.lib.llm.failures import GenerationError
from dream_assets.plugins.parsers import ParsedDocument

# A question as a grammar can enforce it: a capital, 9 to 151 characters, a final '?'.
QUESTION_PATTERN = r"^[A-Z][^?\n]{8,150}\?$"


class SyntheticQueryAnswer(BaseModel):
    """ragas' `GeneratedQueryAnswer` with bounds that constrained decoding enforces: a question
    matching `QUESTION_PATTERN` (so ragas' `WEB_SEARCH_LIKE` style, which drops the '?', is not
    in the default styles) and an answer of 1 to 200 characters."""

    query: str = Field(pattern=QUESTION_PATTERN)
    answer: str = Field(min_length=1, max_length=200)


def query_answer_prompt():
    """The ragas single-hop `QueryAnswerGenerationPrompt` with `SyntheticQueryAnswer` as output and
    an encyclopaedic one-shot example in place of ragas' software-architecture one, which small
    models copy word for word (measured with SmolLM2-135M and Gemma 3 270M)."""
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers.single_hop.prompts import QueryAnswerGenerationPrompt, QueryCondition

    prompt = QueryAnswerGenerationPrompt()
    prompt.output_model = SyntheticQueryAnswer  # pyright: ignore[reportAttributeAccessIssue] - set per instance
    example = QueryCondition(
        persona=Persona(name=DEFAULT_PERSONAS[0][0], role_description=DEFAULT_PERSONAS[0][1]),
        term="Gustave Eiffel",
        query_style="Perfect grammar",
        query_length="short",
        context="The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It is named after "
        "the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.",
    )
    answer = SyntheticQueryAnswer(query="Whose company designed and built the Eiffel Tower?", answer="Gustave Eiffel's")
    prompt.examples = [(example, answer)]  # pyright: ignore[reportAttributeAccessIssue] - set per instance
    return prompt


def term_extractor(max_terms: int):
    """A ragas `Extractor` that sets each node's `entities` to its `key_terms` (no LLM call;
    ragas' `NERExtractor` asks the LLM, which a small local model answers poorly)."""
    from ragas.testset.transforms.base import Extractor

    class TermExtractor(Extractor):
        async def extract(self, node):  # noqa: D102 - see the enclosing docstring
            return "entities", key_terms(node.get_property("page_content") or "", max_terms)

    return TermExtractor(filter_nodes=lambda node: True)


def scenarios(document_id: str, chunks: pd.DataFrame, settings: SyntheticSettings) -> list[dict]:
    """The seeded draw of one document's items: chunks with terms, then term, persona, style,
    length for each. Seeded by (seed, document id), so it does not depend on batching."""
    from ragas.testset.synthesizers.base import QueryLength, QueryStyle

    styles = [QueryStyle[name] for name in settings.query_styles]
    rng = random.Random(f"{settings.seed}:{document_id}")
    candidates = [row for row in chunks.to_dict(orient="records") if row["terms"]]
    drawn = rng.sample(candidates, min(settings.questions_per_document, len(candidates)))
    chosen = sorted(drawn, key=lambda row: row["start"])
    return [
        {
            **row,
            "term": rng.choice(row["terms"][:3]),
            "persona": rng.choice(settings.personas),
            "style": rng.choice(styles),
            "length": rng.choice(list(QueryLength)),
        }
        for row in chosen
    ]


def document_items(document: ParsedDocument, settings: SyntheticSettings) -> tuple[list, pd.DataFrame]:
    """A document's reference contexts as ragas `CHUNK` nodes of a `KnowledgeGraph` whose
    `entities` are their key terms, and its seeded items: [(item, `SingleHopScenario`)], and the
    contexts with their `terms`."""
    from ragas.testset.graph import KnowledgeGraph, Node, NodeType
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers.single_hop.base import SingleHopScenario
    from ragas.testset.transforms import apply_transforms

    chunks = context_chunks(document, settings.chunk_size, settings.chunk_overlap)
    nodes = [
        Node(type=NodeType.CHUNK, properties={"page_content": text, "document_metadata": {"id": context_id}})
        for context_id, text in zip(chunks["context_id"], chunks["text"], strict=True)
    ]
    apply_transforms(KnowledgeGraph(nodes=nodes), term_extractor(settings.max_terms))
    chunks = chunks.assign(terms=pd.Series([node.get_property("entities") for node in nodes], index=chunks.index))
    by_id = dict(zip(chunks["context_id"], nodes, strict=True))
    items = [
        (
            item,
            SingleHopScenario(
                term=item["term"],
                nodes=[by_id[item["context_id"]]],
                persona=Persona(name=item["persona"][0], role_description=item["persona"][1]),
                style=item["style"],
                length=item["length"],
            ),
        )
        for item in scenarios(document.document_id, chunks, settings)
    ]
    return items, chunks


def ask_item(synthesizer, llm, scenario, context: str, settings: SyntheticSettings):
    """Tries one item up to `settings.max_attempts` times, the first greedy, the others at
    `retry_temperature` with seed `seed + attempt`. Returns (sample or None, the last failure
    reason or '', an excerpt of the last output, attempts made)."""
    sample, reason, excerpt = None, "", ""
    for attempt in range(1, settings.max_attempts + 1):
        llm.temperature = 0.0 if attempt == 1 else settings.retry_temperature
        llm.seed = settings.seed + attempt - 1
        try:
            sample = asyncio.run(synthesizer.generate_sample(scenario))
        except GenerationError as error:  # the LLM gateway's retries spent: its reason first
            cause = error.__cause__
            sample, excerpt = None, ""
            reason = f"{error.reason}: {error.attempts} tries; {type(cause).__name__}: {cause}"[:300]
            continue
        except Exception as error:  # noqa: BLE001 - every failure is recorded with its reason
            sample, reason, excerpt = None, f"{type(error).__name__}: {error}"[:300], ""
            continue
        excerpt = f"Q: {sample.user_input} | A: {sample.reference}"[:300]
        reason = rejection_reason(sample.user_input, sample.reference, context, settings)
        if not reason:
            return sample, "", excerpt, attempt
    return None, reason, excerpt, settings.max_attempts
