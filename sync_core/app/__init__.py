"""The application layer: what the function entry points, the CLI and the manage routes call."""
