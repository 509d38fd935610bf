"""Use case 1: nightly sales snapshot, forecast alignment and SKU alerts."""
