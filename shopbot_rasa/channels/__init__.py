"""Custom Rasa input channels of shopbot."""
