"""The command-line layer (typer + rich); the only place that prints."""
