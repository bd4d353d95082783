"""Rasa input channels of this project: REST, socket.io and Telegram, all redacting."""
