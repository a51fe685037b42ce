"""Studies above train/ and evaluate/: orchestrations that train, combine and score in one job."""
