"""The multi-machine topology: Dagster's own processes (code server, webserver, daemon) and
Dagster's Celery executor with its workers. Files for operators live in ``deploy/``."""
