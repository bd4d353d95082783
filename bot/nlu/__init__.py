"""Custom NLU graph components and NLU tooling."""
