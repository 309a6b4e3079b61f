"""DeepSpeed configs, launchers and the distributed training loop."""
