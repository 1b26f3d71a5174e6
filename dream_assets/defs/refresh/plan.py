"""What a refresh of a watched corpus does: the documents that changed since the last applied
version, the configurations it re-evaluates (tier 1 of the corpus' last leaderboard), and its
stages.

A refresh is not a re-sweep: it re-evaluates the configurations of the last leaderboard's tier 1
(their retrieval tier on every question, their generation sample, where the questions already
answered are answered from the LLM cache while their contexts are the same) on the corpus' new
golden set, and builds only the indexes those configurations read (per-document shards: only
the changed documents are embedded). A corpus without a leaderboard is evaluated whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from dream_assets import layout
from dream_assets.defs.stages import Stage, golden_run_config, key_ranges, leaderboard_run_config, sweep_run_config
from dream_assets.search_space import SearchSpace

TAG_REFRESH_RUN = "dream/refresh_run"
"""Tag of every stage run a refresh starts: the refresh run's id."""


class RefreshOptions(BaseModel):
    """The options a watched corpus' refreshes run with (`dream watch`'s)."""

    golden: dict = Field(description="The golden stage's config (`dream_assets.cli.chain.golden_config`).")
    generation_sample_size: int = Field(default=8, description="Questions each configuration answers.")
    judge_llm: str = Field(default="", description="LLM judging the top configurations ('' skips the judge).")
    judge_sample_size: int = Field(default=1, description="Questions judged per judged configuration.")
    judge_configurations: int = Field(default=2, description="Best configurations of tier 1 judged.")


@dataclass(frozen=True)
class CorpusChanges:
    """Documents of a source listing against the versions last applied, by document id.

    Attributes:
        added: in the listing, never applied.
        changed: applied with another version (ETag).
        deleted: applied, no longer listed.
    """

    added: list[str]
    changed: list[str]
    deleted: list[str]

    @classmethod
    def between(cls, applied: dict[str, str], listing: dict[str, str]) -> CorpusChanges:
        """The changes from `applied` to `listing` (both document id to version)."""
        return cls(
            added=sorted(set(listing) - set(applied)),
            changed=sorted(d for d in set(listing) & set(applied) if listing[d] != applied[d]),
            deleted=sorted(set(applied) - set(listing)),
        )

    @property
    def to_ingest(self) -> list[str]:
        """The documents to copy and parse again: added and changed."""
        return sorted([*self.added, *self.changed])

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def tier_one(store, corpus: str, space: SearchSpace) -> list[str] | None:
    """The configuration keys of tier 1 (status `ok`) of `corpus`' last leaderboard that are in
    `space`, in rank order; None when the corpus has no leaderboard yet or none of its tier 1
    is in `space` (then a refresh evaluates every configuration)."""
    pointer = layout.corpus_leaderboard_key(corpus)
    if not store.exists(pointer):
        return None
    golden_version = store.read_json(pointer)["golden_version"]
    table = store.read_parquet(f"{layout.leaderboard_prefix(golden_version)}/leaderboard.parquet")
    if "tier" in table:
        table = table[table["tier"] == 1]
    if "status" in table:
        table = table[table["status"] == "ok"]
    keys = [key for key in table["config_key"] if key in space.configs_by_key]
    return keys or None


def refresh_stages(
    space: SearchSpace,
    options: RefreshOptions,
    changes: CorpusChanges,
    document_order: Sequence[str],
    configs: list[str] | None,
) -> list[Stage]:
    """The stages of one refresh: copy and parse the added and changed documents (one run per
    range of `document_order`, the `documents` partitions' order), the indexes that `configs`
    read (all when None), the golden set, the reranker (only when evaluating everything), the
    sweep of `configs` (all when None), then the judge, the leaderboard and the winner."""
    from dream_assets.partitions import sweep_partitions

    partitions = sweep_partitions(space)
    every = partitions.rag_configs.get_partition_keys()
    chosen = set(configs or every)
    indexes = {space.configs_by_key[key].index_key for key in chosen}
    stages = [
        Stage(f"ingest {len(keys)} documents", "ingest_job", keys)
        for keys in key_ranges(document_order, changes.to_ingest)
    ]
    stages += [
        Stage(f"embedding indexes {', '.join(keys)}", "index_job", keys)
        for keys in key_ranges(partitions.embedding_indexes.get_partition_keys(), indexes)
    ]
    # after the indexes: a synthetic set sized to the decision is scored on their retrieval tier
    stages.append(Stage("golden dataset", "golden_job", None, golden_run_config(options.golden)))
    if configs is None and any(config.reranker != "none" for config in space.configs()):
        stages.append(Stage("reranker: training pairs, fine-tuning", "reranker_job"))
    sweep = sweep_run_config(options.generation_sample_size)
    stages += [Stage(f"sweep {', '.join(keys)}", "sweep_job", keys, sweep) for keys in key_ranges(every, chosen)]
    judge = leaderboard_run_config(options.judge_llm, options.judge_sample_size, options.judge_configurations)
    stages.append(Stage("judge, leaderboard and best configuration", "leaderboard_job", None, judge))
    return stages
