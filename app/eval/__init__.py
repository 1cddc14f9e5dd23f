"""Quality evaluation: DAVIS J&F, matte and plate metrics, the simulated-click protocol."""
