"""Mechanisms every use case shares.

The Delta IO manager, the SQL Server sources, transforms, resources, replication, check rules.
"""
