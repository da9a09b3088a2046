"""A provider simulator: serves every provider's real paths, auth and headers from one scripted
world of matches and races, and injects faults on demand. Used by tests, `make run` and the
benchmarks. One module per provider renders the world in that provider's format.
"""
