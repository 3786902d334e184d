"""The extraction job, for people who want to drain the queue by hand from the UI.

In normal operation nothing launches it: ``extracted_fields`` and ``competitions`` update by
their automation conditions (``catalog/conditions.py``) after posters are stored, and on the
retry tick for failed and re-queued items.
"""

import dagster as dg

from lomba_pipeline.catalog.extraction.assets import competitions, extracted_fields

extraction_job = dg.define_asset_job(
    "extraction_job", selection=[extracted_fields, competitions],
    description="Drain the extraction queue and refresh the catalog's fill-rate report.",
)
