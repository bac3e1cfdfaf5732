"""The journey map: its model (stages, lanes, notes, workshop state), edits and data lanes."""
