"""msvg-bench: training and evaluation harness for multi-scene story video generation."""

__version__ = "0.1.0"
