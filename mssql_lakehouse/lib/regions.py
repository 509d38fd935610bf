"""Inventory region names: partition keys, folder names and environment variable suffixes at once."""

from __future__ import annotations

import re

DEFAULT_REGIONS: tuple[str, ...] = ("amer", "emea", "apac")
_REGION_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def validate_region(region: str) -> str:
    if not _REGION_RE.match(region):
        raise ValueError(f"region {region!r} must be lower-case letters, digits and '_', starting with a letter")
    return region
