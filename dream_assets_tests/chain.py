"""Helpers to run DREAM's jobs in tests, one partition range per run."""

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_job(defs, instance, job: str, keys: list[str] | None = None, run_config: dict | None = None):
    """Executes `job` in process over the partition range keys[0]..keys[-1]; asserts success."""
    tags = dict(zip(RANGE, (keys[0], keys[-1]), strict=True)) if keys else {}
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags=tags, run_config={**QUIET, **(run_config or {})}
    )
    assert result.success
    return result


def table_rows_of(table) -> list[dict]:
    """The rows of a table metadata value."""
    return [record.data for record in table.records]


def metadata(result, asset: str) -> dict:
    """Metadata of `asset`'s materialisation in a run (a run over n partitions records n
    materialisations with the same metadata)."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    assert events, asset
    return {key: value.value for key, value in events[0].materialization.metadata.items()}
