"""MM-Lego (LegoBlock, LegoMerge, LegoFuse) and the baselines, under one interface."""
