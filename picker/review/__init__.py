"""Review figures of traces, probabilities and picks, and their loop over files."""
