"""Rasa-side code of shopbot: input channels, NLU components, the spaCy builder.

Runs in the Rasa environment (Python 3.10, Rasa 3.6). It may use the
standard-library-only parts of ``bot`` (``bot.settings``, ``bot.auth``), never
its database layer.
"""
