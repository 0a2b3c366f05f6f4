"""Run history as the run API shows it: the runs topic folded into one JSON per run."""
