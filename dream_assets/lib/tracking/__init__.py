"""Tracking: MLflow through `MlflowClient` (runs, datasets, tables), answers as MLflow traces."""
