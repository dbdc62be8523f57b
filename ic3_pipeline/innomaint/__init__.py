"""Innomaint: the asset-detail client and its records (plain Python), and the Dagster assets that enrich the register."""
