"""What the synthetic golden set is made with and of: its settings (`SyntheticSettings`), its
columns, and the results of a batch of documents and of a whole generation (plain data shared by
the batch loop, ragas' side and the filters)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel, field_validator

from dream_assets.lib.golden.squad import QUESTION_COLUMNS, GoldenDataset
from dream_assets.lib.llm.gateway import LlmUsage

# Personas of people who would query an encyclopaedic corpus; ragas would otherwise ask the LLM
# to invent them from document summaries (`generate_personas_from_kg`).
DEFAULT_PERSONAS = (
    ("Student", "A secondary-school student looking up facts for homework."),
    ("Journalist", "A reporter checking names, dates and figures before publishing."),
    ("Researcher", "An academic who needs precise details and their context."),
)
SYNTHETIC_COLUMNS = [
    *QUESTION_COLUMNS,
    "synthesizer_name",
    "question_kind",
    "lexical_overlap",
    "persona_name",
    "query_style",
    "query_length",
    "term",
]
# The kinds of synthetic question: a single-hop question about one context (ragas'
# single-hop specific synthesizer), the same rewritten in other words than its context's, and a
# multi-hop question over two contexts that share a term (ragas' multi-hop specific synthesizer).
QUESTION_KINDS = ("single_hop", "paraphrased", "multi_hop")
# The longest question the generation grammar lets through (a capital, up to 150 more characters,
# '?'): a question of this length was most likely cut off mid-sentence by the grammar.
QUESTION_MAX_CHARS = 152


class SyntheticSettings(BaseModel):
    """How the synthetic set is generated (plain data, sent to Ray tasks).

    Attributes:
        questions_per_document: questions asked per document on average: the set's budget is
            this times the number of documents, shared among them in proportion to their
            length (at least one each, at most one per context: `question_counts`), and each
            document's questions are drawn from contexts spread over the whole document.
        kinds: share of each kind of question (`QUESTION_KINDS`); a document's items get their
            kinds by largest remainder, then in a seeded order.
        max_paraphrase_overlap: most share of a paraphrased question's content words that may
            occur in its context (`lexical_overlap`); above it the item is rejected,
            `paraphrase_too_literal`. SQuAD's human questions score 0.67 on average against
            their paragraphs (measured on the demo's 2,910 answerable questions), single-hop
            questions a small model writes about 0.9.
        near_duplicate_similarity: cosine similarity of two questions' embeddings at or above
            which the later is dropped as `near_duplicate` (`dedupe_embedding_model`).
        dedupe_embedding_model: embedding model of the near-duplicate gate.
        chunk_size: reference-context size in tokens (LlamaIndex `SentenceSplitter`).
        chunk_overlap: overlap of consecutive contexts, in tokens.
        max_terms: terms kept per chunk (most frequent capitalised phrases).
        seed: seed of every draw and of the LLM's sampling.
        max_attempts: tries per item; the first is greedy (temperature 0), the others sample
            at `retry_temperature` with seed `seed + attempt`, so a retry can differ.
        retry_temperature: sampling temperature of retries.
        min_question_chars, max_question_chars: bounds on a question's length.
        min_answer_overlap: share of the reference answer's tokens that must occur in its
            context (SQuAD normalisation); below it the answer is not grounded.
        personas: (name, role description) pairs.
        languages: ISO 639-1 codes of the document languages questions are asked in
            (`ParsedDocument.language`; a document of unknown language is tried). The default
            generator (Qwen2.5-Coder-0.5B), the one-shot example and the question grammar are English;
            a document in another language gets one failure row, `unsupported_language`, instead
            of questions in a language it is not written in. Add codes with a multilingual LLM.
    """

    questions_per_document: int = 3
    kinds: dict[str, float] = {"single_hop": 0.5, "paraphrased": 0.25, "multi_hop": 0.25}
    max_paraphrase_overlap: float = 0.75
    near_duplicate_similarity: float = 0.92
    dedupe_embedding_model: str = "all-MiniLM-L6-v2"
    chunk_size: int = 192
    chunk_overlap: int = 0
    max_terms: int = 5
    seed: int = 0
    max_attempts: int = 3
    retry_temperature: float = 0.7
    min_question_chars: int = 12
    max_question_chars: int = 300
    min_answer_overlap: float = 0.6
    personas: list[tuple[str, str]] = list(DEFAULT_PERSONAS)
    query_styles: list[str] = ["PERFECT_GRAMMAR", "POOR_GRAMMAR", "MISSPELLED"]
    languages: list[str] = ["en"]

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(kinds) - set(QUESTION_KINDS))
        if unknown:
            raise ValueError(f"unknown question kinds {unknown}: known are {list(QUESTION_KINDS)}")
        if any(share < 0 for share in kinds.values()) or not sum(kinds.values()) > 0:
            raise ValueError(f"question kind shares must be non-negative and not all 0, got {kinds}")
        return kinds


@dataclass
class BatchResult:
    """What one Ray task returns: question rows (`SYNTHETIC_COLUMNS` less `question_id`),
    context rows (`CONTEXT_COLUMNS`), failure rows (`FAILURE_COLUMNS`), LLM requests made
    (`llm_requests`, cache hits included), calls that reached the model (`llm_calls`) and the
    LLM gateway's full counts (`llm_usage`: tokens and their cost too)."""

    documents: list[str]
    rows: list[dict] = field(default_factory=list)
    contexts: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    llm_requests: int = 0
    llm_calls: int = 0
    llm_usage: LlmUsage = field(default_factory=LlmUsage)


@dataclass
class SyntheticResult:
    """The merged synthetic set: the golden dataset (questions with `SYNTHETIC_COLUMNS`, the
    contexts they point into), every failed item with its reason, LLM counts (requests, calls,
    tokens, and their cost in US dollars at `config/llms.yaml` prices), and the wall time of
    generation in seconds. Generated in rounds (`dream_assets.lib.golden.sizing`): each round's
    outcome (`rounds`), why generation stopped (`stopped_because`) and that in a sentence
    (`sizing_note`); empty for a set of fixed size."""

    golden: GoldenDataset
    failures: pd.DataFrame
    llm_requests: int
    llm_calls: int
    seconds: float
    llm_cost_usd: float = 0.0
    llm_tokens: int = 0
    rounds: list[dict] = field(default_factory=list)
    stopped_because: str = ""
    sizing_note: str = ""
