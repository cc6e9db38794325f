"""Articles: importers, topic tagging, dates in prose, priority, and the store."""
