"""GAN training: the trainer, its losses, checkpoints, precision, seeds, timing and
multi-process runs."""
