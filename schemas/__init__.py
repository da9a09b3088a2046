"""The canonical data model (what consumers read) and each provider's raw model and normalizer."""
