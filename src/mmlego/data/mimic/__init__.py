"""MIMIC-III v1.4 extraction from the raw CSV tables (the MultiBench recipe)."""
