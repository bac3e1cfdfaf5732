"""What is kept on disk: the workspace (datasets, rejects, timelines) and the journey-map store."""
