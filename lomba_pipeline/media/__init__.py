"""Image handling shared by the catalog and the Instagram lanes."""
