"""Pure logic of the synthetic golden set: terms, rejection reasons, merging, schema bounds."""

from dream_assets.lib.golden.synthetic_filters import context_chunks, key_terms, merge_batches, rejection_reason
from dream_assets.lib.golden.synthetic_ragas import query_answer_prompt
from dream_assets.lib.golden.synthetic_settings import BatchResult, SyntheticSettings
from dream_assets.lib.llm.ragas_llm import bounded_schema
from dream_assets.plugins.parsers import ParsedDocument

CONTEXT = "The Normans gave their name to Normandy. Rollo swore fealty to King Charles III of West Francia."


def test_key_terms_ranks_capitalised_phrases_and_skips_sentence_openers():
    text = "The Normans came. The Normans stayed. In 911 Rollo met King Charles III. It was Rollo again."
    assert key_terms(text, 3) == ["Normans", "Rollo", "King Charles III"]


def test_rejection_reasons():
    settings = SyntheticSettings()
    assert rejection_reason("Who swore fealty to King Charles III?", "Rollo", CONTEXT, settings) == ""
    assert rejection_reason("", "Rollo", CONTEXT, settings) == "empty_question"
    assert rejection_reason("Who?", "Rollo", CONTEXT, settings) == "question_too_short"
    assert rejection_reason("What " + "long " * 80 + "?", "Rollo", CONTEXT, settings) == "question_too_long"
    example_copy = "What is the purpose of microservices in software architecture?"
    assert rejection_reason(example_copy, "Rollo", CONTEXT, settings) == "question_not_about_context"
    assert rejection_reason("Who was Rollo?", "a Viking prince of Denmark", CONTEXT, settings) == "answer_not_grounded"
    looping = "Rollo is the Rollo, it is the Rollo, it is the Rollo, it is the Rollo"
    assert rejection_reason("Who was Rollo?", looping, CONTEXT, settings) == "repetitive_output"


def _row(context_id, question):
    return {"document_id": context_id.split(":")[0], "user_input": question, "reference_context_ids": [context_id],
            "term": "t"}  # fmt: skip


def test_merge_keeps_each_question_once_with_stable_ids_and_records_duplicates():
    failure = {"document_id": "a", "context_id": "a:c000", "term": "t", "attempts": 3, "reason": "X: no", "excerpt": ""}
    first = BatchResult(["a"], rows=[_row("a:c001", "Who was Rollo?")], failures=[failure])
    second = BatchResult(["b"], rows=[_row("b:c000", "who was  ROLLO?"), _row("b:c002", "Who was Charles?")])
    golden, failures = merge_batches([second, first])
    assert golden.questions["user_input"].tolist() == ["Who was Rollo?", "Who was Charles?"]
    assert list(failures["reason"]) == ["X: no", "duplicate_question"]
    assert golden.skipped == {"X": 1, "duplicate_question": 1}
    again, _ = merge_batches([first, second])  # batch order does not change ids
    assert again.questions["question_id"].tolist() == golden.questions["question_id"].tolist()


def test_context_chunks_are_spans_of_the_parsed_text():
    text = " ".join(f"Sentence {i} about Rollo and the Normans of Normandy." for i in range(200))
    chunks = context_chunks(ParsedDocument(document_id="d", title="d", text=text), 64, 0)
    assert len(chunks) > 5
    assert all(text[row.start : row.end] == row.text for row in chunks.itertuples())


def test_the_prompt_response_model_carries_the_bounds_to_the_grammar():
    prompt = query_answer_prompt()
    schema = bounded_schema(prompt.output_model.model_json_schema(), 400)  # what GatewayRagasLLM constrains with
    assert set(schema["properties"]) == {"query", "answer"}
    assert "pattern" in schema["properties"]["query"] and schema["properties"]["answer"]["maxLength"] == 200
    bounded = bounded_schema({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string",
                              "maxLength": 5}}}, 40)  # fmt: skip
    assert bounded["properties"]["a"]["maxLength"] == 40 and bounded["properties"]["b"]["maxLength"] == 5
