"""The asset graph, one folder per use case: each holds its assets by layer, checks, partitions and automation."""
