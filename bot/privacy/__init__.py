"""Privacy: redaction of personal identifiers before anything is stored or logged."""
