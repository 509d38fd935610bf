"""Mechanisms every use case shares: the Delta IO manager, the SQL Server sources, transforms, resources, replication, check rules."""
