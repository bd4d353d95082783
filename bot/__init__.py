"""The return-support assistant: the project's own Python package."""
