"""Infrastructure and cross-cutting services. Knows nothing of any system."""
