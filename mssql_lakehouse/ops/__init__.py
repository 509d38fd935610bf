"""Operational records the pipeline keeps about itself."""
