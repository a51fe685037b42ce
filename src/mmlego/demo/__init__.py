"""Synthetic raw data in the real releases' formats, with planted signal."""
