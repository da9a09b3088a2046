"""Sportsflow wiring: settings, topics, the Faust app, the CLI and the web front ends."""
