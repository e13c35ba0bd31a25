"""Scoring restorations: metrics and protocols, inference on whole photos, trained
checkpoints and chains of them, prediction on folders and the per-drop failure analysis."""
