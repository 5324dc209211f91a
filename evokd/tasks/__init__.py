"""Task-specific formats, validation and metrics (classification now; NER plugs in here)."""
