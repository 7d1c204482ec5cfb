"""NumPy golden models and compression algorithms."""
