"""Sensors: runs started by new data in the sources."""
