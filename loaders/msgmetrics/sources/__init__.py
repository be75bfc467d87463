"""dlt sources, one module per source (shaped like dlt's verified sources)."""
