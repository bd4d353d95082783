"""Storage for what Rasa does not keep: handoffs, counsellors, audit log. No Rasa imports."""
