"""The counsellor console: a FastAPI app where counsellors take over escalated conversations.

``python -m bot.console serve`` runs it; ``python -m bot.console create-user`` adds accounts.
``create_app`` (bot.console.app) builds the app, so tests and other modules can extend it.
"""
