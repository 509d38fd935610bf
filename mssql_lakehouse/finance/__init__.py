"""Finance close machinery shared by the assets and the audit CLI: close history, archive, grants."""
