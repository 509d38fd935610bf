"""Pure DataFrame -> DataFrame transformations, wired to IO by the assets."""
