"""The order database: models, the session seam and schema migrations.

See :mod:`bot.db.models`, :mod:`bot.db.session` and :mod:`bot.db.migrate`.
Nothing is imported or created here, so importing the package is free.
"""
