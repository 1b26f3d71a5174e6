import dagster as dg

from dream_assets.definitions import build_definitions, defs
from dream_assets.deployments import local_resources
from dream_assets.partitions import sweep_partitions
from dream_assets.search_space import load_search_space


def test_definitions_load():
    loaded = defs()  # what `dagster dev` and the code server load
    dg.Definitions.validate_loadable(loaded)
    keys = {key.to_user_string() for key in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "source_documents",
        "parsed_documents",
        "golden_dataset",
        "embedding_index",
        "retrieval_pool",
        "reranker_training_pairs",
        "finetuned_reranker",
        "trial_evaluations",
        "judge_evaluations",
        "experiment_leaderboard",
        "best_rag_configuration",
        "range_search",
        "oscar_jsonl",
        "oscar_parquet",
        "oscar_chunks",
        "oscar_embeddings",
        "pgvector_index",
        "vector_query_benchmark",
    }


def test_opensearch_asset_is_defined_only_with_an_opensearch_url(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENSEARCH_URL", "http://127.0.0.1:9200")
    with_url = build_definitions(local_resources(tmp_path, str(tmp_path)))
    keys = {key.to_user_string() for key in with_url.resolve_asset_graph().get_all_asset_keys()}
    assert "opensearch_index" in keys and with_url.resolve_job_def("opensearch_job")
    monkeypatch.delenv("OPENSEARCH_URL")
    without = build_definitions(local_resources(tmp_path, str(tmp_path)))
    assert "opensearch_index" not in {
        key.to_user_string() for key in without.resolve_asset_graph().get_all_asset_keys()
    }


def test_every_configuration_reads_exactly_one_index():
    partitions = sweep_partitions(load_search_space())
    embedding_index_partitions, index_to_configs = partitions.embedding_indexes, partitions.index_to_configs
    rag_config_partitions = partitions.rag_configs
    mapped = [
        key
        for index in embedding_index_partitions.get_partition_keys()
        for key in index_to_configs.downstream_partition_keys_by_upstream_partition_key[index]
    ]
    assert sorted(mapped) == sorted(rag_config_partitions.get_partition_keys())


def test_local_resources_live_under_the_state_directory(tmp_path):
    resources = local_resources(tmp_path, str(tmp_path / "pdfs"))
    assert resources["object_store"].root == str(tmp_path / "object_store")
    assert resources["tracker"].tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    dg.Definitions.validate_loadable(build_definitions(resources))


def test_code_versions_let_dagster_show_stale_indexes_and_evaluations():
    graph = defs().resolve_asset_graph()
    versions = {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()}
    assert versions["embedding_index"] and versions["trial_evaluations"]


def test_every_run_config_field_has_help_in_the_launchpad():
    """Each field of each asset's run config has a description, which the launchpad shows."""
    configured = {}
    for node in defs().resolve_asset_graph().asset_nodes:
        schema = node.assets_def.op.config_schema
        fields = getattr(schema.as_field().config_type, "fields", {}) if schema is not None else {}
        configured[node.key.to_user_string()] = {name: field.description for name, field in fields.items()}
    assert {"trial_evaluations", "golden_dataset", "judge_evaluations", "parsed_documents"} <= set(configured)
    undescribed = [
        f"{asset}.{name}" for asset, fields in configured.items() for name, text in fields.items() if not text
    ]
    assert undescribed == []
    assert "held out of the search" in configured["golden_dataset"]["held_out_fraction"]


def test_checks_cover_indexes_trials_and_the_leaderboard():
    checks = {(key.asset_key.to_user_string(), key.name) for key in defs().resolve_asset_graph().asset_check_keys}
    assert {
        ("embedding_index", "embedding_index_vectors"),
        ("trial_evaluations", "trials_succeeded"),
        ("trial_evaluations", "metrics_cover_the_questions"),
        ("experiment_leaderboard", "leaderboard_ranks_every_configuration"),
    } <= checks
