"""Metrics, tables, figures and the interference analysis."""
