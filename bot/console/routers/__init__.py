"""One router per resource: auth, handoffs, texts, audit, pages."""
