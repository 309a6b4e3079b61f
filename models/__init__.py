"""The multi-scene CogVideoX model, its baselines, pipelines and weight loaders."""
