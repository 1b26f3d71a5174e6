"""Plain clients of DREAM's services, without Dagster: what Ray workers and `dream_assets.lib` use; the
Dagster resources in `resources/` hold configuration and hand these their settings."""
