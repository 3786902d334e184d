"""lomba_pipeline: the Indonesian competition catalog and Instagram operations on Dagster."""
