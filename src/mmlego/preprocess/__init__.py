"""Tissue segmentation, patch grids, patch encoders and time-series binning."""
