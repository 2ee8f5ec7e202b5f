"""Training: optimizers, schedules, early stopping, the epoch loop, the run directory, checkpoints, the Trainer."""
