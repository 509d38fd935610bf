"""Schedules: runs triggered by the clock."""
