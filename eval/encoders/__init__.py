"""The encoder registry: real encoders from local weights and tiny random ones for tests."""
