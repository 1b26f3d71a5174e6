"""Checks on the golden dataset; the blocking ones keep a bad set from reaching the sweep."""

import dagster as dg

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.golden.assets import golden_dataset
from dream_assets.defs.readers import read_current_golden, read_parsed_documents
from dream_assets.lib.documents.parsing import normalise_whitespace
from dream_assets.lib.golden.synthetic_settings import SyntheticSettings
from dream_assets.search_space import SearchSpace
from resources.object_store import ObjectStore

MIN_QUESTION_CHARS = SyntheticSettings().min_question_chars
MAX_QUESTION_CHARS = SyntheticSettings().max_question_chars


@dg.asset_check(asset=golden_dataset, blocking=True)
def golden_dataset_is_not_empty(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore
) -> dg.AssetCheckResult:
    """At least one question."""
    _, questions, _ = read_current_golden(object_store.client(), corpus_of(context))
    return dg.AssetCheckResult(passed=len(questions) > 0, metadata={"questions": len(questions)})


@dg.asset_check(asset=golden_dataset, blocking=True)
def golden_dataset_has_no_duplicate_questions(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore
) -> dg.AssetCheckResult:
    """No two questions equal after lower-casing and whitespace normalisation."""
    _, questions, _ = read_current_golden(object_store.client(), corpus_of(context))
    normalised = questions["user_input"].map(lambda text: normalise_whitespace(text).lower())
    duplicates = questions.loc[normalised.duplicated(keep=False), "user_input"].tolist()
    return dg.AssetCheckResult(
        passed=not duplicates, metadata={"duplicates": len(duplicates), "examples": duplicates[:5]}
    )


@dg.asset_check(asset=golden_dataset, blocking=True)
def golden_dataset_references_are_grounded(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore, search_space: dg.ResourceParam[SearchSpace]
) -> dg.AssetCheckResult:
    """Every reference context id is in the context catalogue, and every catalogued span is
    text of its document as the golden parser parsed it (the golden set's own text; the other
    parsers' alignments may miss contexts, which counts against them)."""
    store = object_store.client()
    corpus = corpus_of(context)
    parser = search_space.golden_parser
    _, questions, _ = read_current_golden(store, corpus)
    contexts = store.read_parquet(f"{store.read_json(layout.golden_pointer(corpus))['prefix']}/contexts.parquet")
    documents = read_parsed_documents(context.instance, store, corpus, parser)
    known = set(contexts["context_id"])
    dangling = sorted({i for ids in questions["reference_context_ids"] for i in ids} - known)
    ungrounded = [
        row["context_id"]
        for row in contexts.to_dict("records")
        if row["document_id"] not in documents
        or documents[row["document_id"]].text[int(row["start"]) : int(row["end"])] != row["text"]
    ]
    return dg.AssetCheckResult(
        passed=not dangling and not ungrounded,
        metadata={"dangling_reference_ids": dangling[:10], "ungrounded_contexts": ungrounded[:10]},
    )


@dg.asset_check(asset=golden_dataset, blocking=False)
def golden_dataset_question_lengths(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore
) -> dg.AssetCheckResult:
    """Every question has `MIN_QUESTION_CHARS` to `MAX_QUESTION_CHARS` characters (12 to 300;
    a warning: odd lengths are legal, but many of them say the generator went wrong)."""
    _, questions, _ = read_current_golden(object_store.client(), corpus_of(context))
    lengths = questions["user_input"].str.len()
    outside = questions.loc[(lengths < MIN_QUESTION_CHARS) | (lengths > MAX_QUESTION_CHARS), "user_input"].tolist()
    return dg.AssetCheckResult(
        passed=not outside,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "outside_bounds": len(outside),
            "examples": outside[:5],
            "min_chars": int(lengths.min()) if len(lengths) else 0,
            "max_chars": int(lengths.max()) if len(lengths) else 0,
        },
    )
