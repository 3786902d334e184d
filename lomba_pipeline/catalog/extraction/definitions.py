"""Extraction domain definitions (assets + check); resources come from the code location."""

import dagster as dg

from lomba_pipeline.catalog.extraction.assets import (
    competitions,
    extracted_fields,
    impossible_competitions,
)
from lomba_pipeline.catalog.extraction.automation import extraction_job

defs = dg.Definitions(
    assets=[extracted_fields, competitions],
    asset_checks=[impossible_competitions],
    jobs=[extraction_job],
)
