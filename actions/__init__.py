"""Custom actions of shopbot: thin adapters from the tracker to ``bot``.

One module per topic. Actions read the tracker, call one function of ``bot``
and dispatch a response defined in ``domain.yml``; no SQL, no policy logic.
"""
