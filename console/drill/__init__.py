"""Tabletop drills: scenarios, the drill clock and the simulated cluster."""
