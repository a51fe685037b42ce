"""Shared utilities used by every pipeline step."""
