"""Faust agents: thin loops around the pure functions that do the work."""
