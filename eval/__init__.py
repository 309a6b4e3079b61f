"""Metrics, encoders and scoring of multi-scene stories."""
