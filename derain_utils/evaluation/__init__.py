"""Scoring restorations: metrics and protocols, inference on whole photos, trained
checkpoints, prediction on folders and the per-drop failure analysis."""
