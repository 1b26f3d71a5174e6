"""The synthetic golden set's prompts, as ragas prompts with output models whose bounds a
grammar can enforce: the single-hop and multi-hop query-and-answer prompts with encyclopaedic
examples in place of ragas' own, and the paraphrase prompt. Used by
`dream_assets.lib.golden.synthetic_ragas`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dream_assets.lib.golden.synthetic_settings import DEFAULT_PERSONAS, QUESTION_MAX_CHARS

# A question as a grammar can enforce it: a capital, 8 to 150 more characters, a final '?'.
QUESTION_PATTERN = rf"^[A-Z][^?\n]{{8,{QUESTION_MAX_CHARS - 2}}}\?$"


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


class MultiHopQueryAnswer(BaseModel):
    """ragas' multi-hop `GeneratedQueryAnswer` with grammar-enforced bounds (`QUESTION_PATTERN`,
    an answer of 1 to 300 characters)."""

    query: str = Field(pattern=QUESTION_PATTERN)
    answer: str = Field(min_length=1, max_length=300)


def multi_hop_prompt():
    """Ragas' multi-hop `QueryAnswerGenerationPrompt` with `MultiHopQueryAnswer` as output, a
    request for a short answer, and an encyclopaedic one-shot example in place of ragas' (whose
    long answer a small model copies and then runs past the bound)."""
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers.multi_hop.prompts import QueryAnswerGenerationPrompt, QueryConditions

    prompt = QueryAnswerGenerationPrompt()
    prompt.output_model = MultiHopQueryAnswer  # pyright: ignore[reportAttributeAccessIssue] - set per instance
    prompt.instruction += (
        "\n5. **Short answer**: answer with a phrase or one short sentence. Do not mention the hops, the"
        " segments or the context in the query: it must read as a question a person would ask."
    )
    example = QueryConditions(
        persona=Persona(name=DEFAULT_PERSONAS[0][0], role_description=DEFAULT_PERSONAS[0][1]),
        themes=["Gustave Eiffel"],
        query_style="Perfect grammar",
        query_length="short",
        context=[
            "<1-hop>\n\nThe Eiffel Tower is a wrought-iron lattice tower in Paris, named after the engineer Gustave "
            "Eiffel, whose company designed and built it from 1887 to 1889.",
            "<2-hop>\n\nBefore the tower, Gustave Eiffel's company built the Garabit viaduct, a railway bridge over "
            "the Truyère river, completed in 1884.",
        ],
    )
    answer = MultiHopQueryAnswer(
        query="Which railway bridge did the company behind the Eiffel Tower complete before it?",
        answer="The Garabit viaduct",
    )
    prompt.examples = [(example, answer)]  # pyright: ignore[reportAttributeAccessIssue] - set per instance
    return prompt


class ParaphraseInput(BaseModel):
    """A question to rewrite."""

    question: str


class Paraphrase(BaseModel):
    """The rewritten question, bounded like a generated one (`QUESTION_PATTERN`)."""

    question: str = Field(pattern=QUESTION_PATTERN)


def paraphrase_prompt():
    """A ragas `PydanticPrompt` that rewrites a question in other words, asking for the same
    fact: users do not phrase questions in their documents' words (SQuAD's crowd workers were
    asked to use their own; issue 34), and a question that reuses its context's words favours
    lexical retrieval."""
    from ragas.prompt import PydanticPrompt

    class ParaphrasePrompt(PydanticPrompt[ParaphraseInput, Paraphrase]):
        instruction = (
            "Rewrite the question so that it asks for exactly the same fact in different words: replace its"
            " nouns, verbs and adjectives with synonyms or descriptions and change the order of the sentence."
            " Keep the names of people, places and works as they are. Do not answer the question."
        )
        input_model = ParaphraseInput
        output_model = Paraphrase
        examples = [
            (
                ParaphraseInput(question="Whose company designed and built the Eiffel Tower?"),
                Paraphrase(question="The Eiffel Tower was planned and put up by which person's firm?"),
            ),
            (
                ParaphraseInput(question="When did the Normans conquer England?"),
                Paraphrase(question="In what year did England fall to the Normans?"),
            ),
        ]

    return ParaphrasePrompt()
