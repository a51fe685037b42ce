"""Baseline models, one module per family."""
