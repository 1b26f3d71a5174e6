"""Pure logic of the synthetic golden set: terms, rejection reasons, merging, schema bounds."""

import math

import numpy as np
import pandas as pd
import pytest

from dream_assets.lib.golden.synthetic_filters import (
    context_chunks,
    key_terms,
    lexical_overlap,
    merge_batches,
    near_duplicates,
    question_counts,
    rejection_reason,
)
from dream_assets.lib.golden.synthetic_prompts import query_answer_prompt
from dream_assets.lib.golden.synthetic_ragas import kind_quota, scenarios
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


def test_merging_rounds_keeps_contexts_and_a_document_s_own_failures_once_and_every_item_failure():
    language = {"document_id": "ru", "context_id": "", "term": "", "attempts": 0, "reason": "unsupported_language",
                "excerpt": "the document is in 'ru'"}  # fmt: skip
    item = {"document_id": "a", "context_id": "a:c000", "term": "t", "attempts": 3, "reason": "X: no", "excerpt": ""}
    context = {"context_id": "a:c000", "document_id": "a", "start": 0, "end": 5, "text": "Rollo"}
    rounds = [
        BatchResult(["a", "ru"], rows=[_row("a:c00" + str(n), question)], contexts=[context], failures=[language, item])
        for n, question in ((1, "Who was Rollo?"), (0, "Who was Charles?"))
    ]
    golden, failures = merge_batches(rounds)
    assert len(golden.questions) == 2 and golden.contexts["context_id"].tolist() == ["a:c000"]
    assert list(failures["reason"]) == ["unsupported_language", "X: no", "X: no"]
    assert golden.skipped == {"unsupported_language": 1, "X": 2}


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


def test_new_rejection_reasons_name_a_question_that_points_at_its_source_or_is_in_another_language():
    settings = SyntheticSettings()
    assert rejection_reason("What does the passage say about Rollo?", "Rollo", CONTEXT, settings) == "not_standalone"
    assert rejection_reason("Who, in <1-hop>, swore fealty to Charles?", "Rollo", CONTEXT, settings) == "not_standalone"
    german = "Wer schwor dem König Karl dem Dritten von Westfranken die Treue?"
    assert rejection_reason(german, "Rollo", CONTEXT, settings) == "wrong_language"
    allowed = settings.model_copy(update={"languages": ["en", "de"]})  # past the language gate, the next one
    assert rejection_reason(german, "Rollo", CONTEXT, allowed) == "question_not_about_context"


def test_a_paraphrase_that_reuses_its_contexts_words_is_too_literal():
    settings = SyntheticSettings()
    literal = "Who swore fealty to King Charles?"  # overlap 1.0
    assert rejection_reason(literal, "Rollo", CONTEXT, settings, "paraphrased") == "paraphrase_too_literal"
    assert rejection_reason(literal, "Rollo", CONTEXT, settings) == ""  # single-hop: kept
    assert rejection_reason("Which ruler did Rollo pledge loyalty to?", "Rollo", CONTEXT, settings, "paraphrased") == ""


def test_lexical_overlap_is_the_share_of_the_questions_content_words_found_in_the_context():
    assert lexical_overlap("Who swore fealty to King Charles?", CONTEXT) == 1.0  # swore fealty king charles
    assert lexical_overlap("Which Viking pledged loyalty to a Frankish ruler?", CONTEXT) == 0.0
    assert lexical_overlap("Who swore loyalty to King Charles?", CONTEXT) == 0.75
    assert math.isnan(lexical_overlap("Who was it?", CONTEXT))


def test_question_counts_follow_length_give_each_document_one_and_respect_capacity():
    lengths = {"long": 9000, "mid": 3000, "short": 1000, "empty": 500}
    counts = question_counts(lengths, {"long": 50, "mid": 50, "short": 50, "empty": 0}, per_document=3)
    # 12 questions: 9 : 2 : 1 for 9,000 : 3,000 : 1,000 characters; the empty one's go to the others
    assert counts == {"long": 9, "mid": 2, "short": 1, "empty": 0}
    capped = question_counts(lengths, {"long": 2, "mid": 50, "short": 50, "empty": 0}, per_document=3)
    assert capped == {"long": 2, "mid": 8, "short": 2, "empty": 0}  # the long one's share went to the others
    assert question_counts({"a": 10, "b": 10}, {"a": 1, "b": 1}, per_document=5) == {"a": 1, "b": 1}


def test_kind_quota_splits_by_largest_remainder():
    kinds = {"single_hop": 0.5, "paraphrased": 0.25, "multi_hop": 0.25}
    assert kind_quota(1, kinds) == ["single_hop"]
    assert kind_quota(3, kinds) == ["single_hop", "paraphrased", "multi_hop"]
    assert kind_quota(8, kinds) == ["single_hop"] * 4 + ["paraphrased"] * 2 + ["multi_hop"] * 2
    assert kind_quota(2, {"paraphrased": 1.0}) == ["paraphrased", "paraphrased"]
    with pytest.raises(ValueError, match="unknown question kinds"):
        SyntheticSettings(kinds={"two_hop": 1.0})


def test_scenarios_spread_over_the_document_and_pair_multi_hop_contexts_by_a_shared_term():
    rows = [{"context_id": f"d:c{i:03d}", "document_id": "d", "start": 100 * i, "end": 100 * i + 99, "text": f"t{i}",
             "terms": ["Rollo", f"Term{i}"] if i % 2 else [f"Term{i}"]} for i in range(40)]  # fmt: skip
    settings = SyntheticSettings(kinds={"multi_hop": 1.0})
    items = scenarios("d", pd.DataFrame(rows), settings, 4)
    positions = [int(item["context_id"][-3:]) for item in items]
    assert [position // 10 for position in positions] == [0, 1, 2, 3]  # one from each quarter
    for item in items:
        if item["context_id"] in {f"d:c{i:03d}" for i in range(1, 40, 2)}:  # has a shared term
            assert item["kind"] == "multi_hop" and item["term"] == "Rollo"
            assert item["partner"]["context_id"] != item["context_id"] and "Rollo" in item["partner"]["terms"]
        else:  # nothing to pair with: asked as single-hop
            assert item["kind"] == "single_hop" and item["partner"] is None
    assert scenarios("d", pd.DataFrame(rows), settings, 4) == items  # seeded


def test_near_duplicates_keep_the_first_of_each_group_and_merge_records_them():
    vectors = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [0.7, 0.7]])
    assert near_duplicates(vectors, 0.95) == {1: 0}
    rows = [_row("a:c001", "Who was Rollo?"), _row("a:c002", "Who was Rollo then?"), _row("a:c003", "Who was Charles?")]
    embed = lambda texts: np.array([[1.0, 0.0] if "Rollo" in text else [0.0, 1.0] for text in texts])  # noqa: E731
    golden, failures = merge_batches([BatchResult(["a"], rows=rows)], embed, 0.92)
    assert golden.questions["user_input"].tolist() == ["Who was Rollo?", "Who was Charles?"]
    assert failures["reason"].tolist() == ["near_duplicate"]
    assert failures["excerpt"][0] == "Who was Rollo then? ≈ Who was Rollo?"


def test_the_agreement_note_quotes_each_measured_generator(tmp_path):
    from dream_assets.lib.golden.agreement import agreement_note, read_agreement

    assert read_agreement(tmp_path / "none.json") == {} and agreement_note({}) == ""
    record = {"configurations": 30, "kendall_tau": 0.8123, "synthetic_winner_in_human_tier_1": False,
              "source": "benchmarks/bench_synthetic.py", "date": "2026-12-07"}  # fmt: skip
    note = agreement_note({"qwen": record})
    assert "by qwen ranked 30 configurations" in note and "Kendall tau 0.81" in note
    assert "outside the human tier 1 (benchmarks/bench_synthetic.py, 2026-12-07)" in note
    sized = agreement_note({"qwen": {**record, "synthetic_questions": 42, "tier_1_synthetic": 23, "tier_1_human": 1}})
    assert "tier 1; on 42 synthetic questions tier 1 held 23 configurations, on the human ones 1 (" in sized
    assert agreement_note(read_agreement())  # the shipped measurement reads


def test_a_question_as_long_as_the_grammar_allows_was_cut_off():
    opening = "Which member state has failed to implement a Directive, so that a citizen may not bring claims "
    cut = opening + "x" * (151 - len(opening)) + "?"
    assert len(cut) == 152 and rejection_reason(cut, "Rollo", CONTEXT, SyntheticSettings()) == "question_cut_off"
    assert rejection_reason(cut[:100] + "?", "Rollo", CONTEXT, SyntheticSettings()) != "question_cut_off"
