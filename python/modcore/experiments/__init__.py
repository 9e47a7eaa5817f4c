"""Many networks at once: sweeps over weight files and the papers' reproductions (MLP, CNN,
lesions), with their run logs and records."""
