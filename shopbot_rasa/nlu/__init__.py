"""Custom Rasa NLU components of shopbot (text and entity normalisation)."""
