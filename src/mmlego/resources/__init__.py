"""Data files shipped with the package (the paper's reported numbers)."""
