from dream_assets.lib.golden.squad import align_contexts, squad_golden_dataset
from dream_assets.plugins.parsers import ParsedDocument


def _document(text: str) -> ParsedDocument:
    return ParsedDocument("warsaw", "Warsaw", text, [0], "sha")


def test_alignment_treats_missing_glyphs_as_wildcards_and_keeps_order():
    # the PDF font has no 'ł' or 'ń': it renders a placeholder; the same sentence appears twice
    text = "Warsaw Intro. The Prince of P■ock ruled. Filler. The Prince of P■ock ruled."
    spans = align_contexts(
        _document(text), ["Warsaw Intro.", "The Prince of Płock ruled.", "The Prince of Płock ruled."]
    )
    assert spans[0] == (0, 13)
    assert text[spans[1][0] : spans[1][1]] == "The Prince of P■ock ruled."
    assert spans[2][0] > spans[1][0]
    assert align_contexts(_document(text), ["Not in the text."]) == [None]


def _squad():
    return {
        "data": [
            {
                "title": "Warsaw",
                "paragraphs": [
                    {
                        "context": "Warsaw is the capital of Poland.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Capital of Poland? ",
                                "answers": [{"text": "Warsaw"}, {"text": "Warsaw"}],
                            },
                            {"id": "q2", "question": "Unanswerable?", "answers": [], "is_impossible": True},
                        ],
                    },
                    {
                        "context": "Missing paragraph.",
                        "qas": [{"id": "q3", "question": "Lost?", "answers": [{"text": "x"}]}],
                    },
                ],
            },
            {
                "title": "Normans",
                "paragraphs": [{"context": "c", "qas": [{"id": "q4", "question": "?", "answers": [{"text": "y"}]}]}],
            },
        ]
    }


def test_squad_golden_dataset_keeps_answerable_aligned_questions_and_counts_the_rest():
    golden = squad_golden_dataset(_squad(), {"warsaw": _document("Title. Warsaw is the capital of Poland.")})
    assert golden.questions["question_id"].tolist() == ["q1"]
    row = golden.questions.iloc[0]
    assert row["user_input"] == "Capital of Poland?"
    assert row["reference"] == "Warsaw" and list(row["reference_answers"]) == ["Warsaw"]
    assert list(row["reference_context_ids"]) == ["warsaw:p000"]
    assert golden.skipped == {
        "unanswerable": 1,
        "question_length": 0,
        "document_not_parsed": 1,
        "context_not_found": 1,
    }
    context = golden.contexts.iloc[0]
    assert (context["start"], context["end"]) == (7, 39)


def test_squad_sampling_is_seeded():
    squad = _squad()
    paragraph = squad["data"][0]["paragraphs"][0]
    paragraph["qas"] = [{"id": f"q{i}", "question": f"Question {i}?", "answers": [{"text": "a"}]} for i in range(20)]
    documents = {"warsaw": _document("Warsaw is the capital of Poland.")}
    first = squad_golden_dataset(squad, documents, questions_per_document=5, seed=7)
    again = squad_golden_dataset(squad, documents, questions_per_document=5, seed=7)
    other = squad_golden_dataset(squad, documents, questions_per_document=5, seed=8)
    assert len(first.questions) == 5
    assert first.questions["question_id"].tolist() == again.questions["question_id"].tolist()
    assert first.questions["question_id"].tolist() != other.questions["question_id"].tolist()


def test_duplicate_questions_of_a_document_are_collapsed_with_their_answers_merged():
    squad = _squad()
    paragraph = squad["data"][0]["paragraphs"][0]
    paragraph["qas"].append(
        {"id": "q1b", "question": "capital of  poland?", "answers": [{"text": "the city of Warsaw"}]}
    )
    golden = squad_golden_dataset(squad, {"warsaw": _document("Title. Warsaw is the capital of Poland.")})
    assert golden.questions["question_id"].tolist() == ["q1"] and golden.collapsed == 1
    assert list(golden.questions.iloc[0]["reference_answers"]) == ["Warsaw", "the city of Warsaw"]


def test_squad_v1_without_is_impossible_and_questions_without_answers_do_not_crash():
    squad = _squad()
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa.pop("is_impossible", None)
    golden = squad_golden_dataset(squad, {"warsaw": _document("Title. Warsaw is the capital of Poland.")})
    assert golden.questions["question_id"].tolist() == ["q1"]
    assert golden.skipped["unanswerable"] == 1  # q2 has no answer: not answerable, not an IndexError


def test_a_question_over_the_length_limit_is_left_out_and_counted():
    squad = _squad()
    qas = squad["data"][0]["paragraphs"][0]["qas"]
    qas.append({"id": "q5", "question": "Why? " * 1000, "answers": [{"text": "Warsaw"}]})  # 5,000 characters
    golden = squad_golden_dataset(squad, {"warsaw": _document("Title. Warsaw is the capital of Poland.")})
    assert golden.questions["question_id"].tolist() == ["q1"] and golden.skipped["question_length"] == 1


def test_a_golden_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    import json

    import pytest

    from dream_assets.lib.golden import squad as module

    path = tmp_path / "big.json"
    path.write_text(json.dumps(_squad()))
    assert module.read_squad(path)["data"][0]["title"] == "Warsaw"
    monkeypatch.setattr(module, "MAX_SQUAD_BYTES", 100)
    with pytest.raises(ValueError, match=rf"golden file {path} is \d+ bytes, over 100"):
        module.read_squad(path)
