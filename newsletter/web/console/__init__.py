"""The staff console: every page under /staff, one module per section."""
