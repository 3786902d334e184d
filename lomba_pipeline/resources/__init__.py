"""Every byte that crosses the process boundary: one module per outside system."""
