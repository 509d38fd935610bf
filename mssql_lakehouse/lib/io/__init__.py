"""Reading and writing Delta tables: the PySpark Delta IO manager and its pieces."""
