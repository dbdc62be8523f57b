"""The Excel asset register: reading, validation, loading, the ``asset_register`` asset, its checks and sensor."""
