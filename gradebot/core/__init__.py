"""Core of gradebot: models, store interface, grading, sandbox, feedback, service. Knows nothing of HTTP or
Telegram, and names no queue backend (those live in ``gradebot.backends``)."""
