"""Raw items → competition records: rules provider, AI chain, streaming writes, Dagster assets."""
