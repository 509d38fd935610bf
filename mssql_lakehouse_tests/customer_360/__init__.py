"""Customer 360 from change data capture: transforms against an oracle, assets, sensor."""
