"""What the synthetic golden set is made with and of: its settings (`SyntheticSettings`), its
columns, and the results of a batch of documents and of a whole generation (plain data shared by
the batch loop, ragas' side and the filters)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel

from dream_assets.lib.golden.squad import QUESTION_COLUMNS, GoldenDataset
from dream_assets.lib.llm.gateway import LlmUsage

# Personas of people who would query an encyclopaedic corpus; ragas would otherwise ask the LLM
# to invent them from document summaries (`generate_personas_from_kg`).
DEFAULT_PERSONAS = (
    ("Student", "A secondary-school student looking up facts for homework."),
    ("Journalist", "A reporter checking names, dates and figures before publishing."),
    ("Researcher", "An academic who needs precise details and their context."),
)
SYNTHETIC_COLUMNS = [*QUESTION_COLUMNS, "synthesizer_name", "persona_name", "query_style", "query_length", "term"]


class SyntheticSettings(BaseModel):
    """How the synthetic set is generated (plain data, sent to Ray tasks).

    Attributes:
        questions_per_document: questions asked per document (at most one per chunk).
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
    generation in seconds."""

    golden: GoldenDataset
    failures: pd.DataFrame
    llm_requests: int
    llm_calls: int
    seconds: float
    llm_cost_usd: float = 0.0
    llm_tokens: int = 0
