"""How trainable hashers train: a LightningDataModule over the split, LightningModules, callbacks and the
trainer factory. Only training imports this package; loading a checkpoint and encoding never do."""
