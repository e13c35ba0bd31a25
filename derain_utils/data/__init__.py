"""The data: real Raindrop and rain/clean folders, the embedded photos, the lens-drop
renderer and the datasets and augmentation that feed training."""
