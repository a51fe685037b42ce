"""Raw-format readers, the synthetic generator, splits and the modality store."""
