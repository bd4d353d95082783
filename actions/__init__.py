"""Custom actions (rasa_sdk). One module per capability; rasa_sdk finds them all."""
