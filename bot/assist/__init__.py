"""The agent assistant: suggested replies for a human agent, grounded in the rules.

:mod:`bot.assist.suggest` turns an NLU parse, the buyer's order and the rule
engine's decision into ranked replies (pure); :mod:`bot.assist.templates`
loads their texts from ``templates.yml``; :mod:`bot.assist.rasa` reads Rasa's
HTTP API (``/model/parse`` and trackers, nothing that writes);
:mod:`bot.assist.feedback` stores what agents did with the suggestions;
:mod:`bot.assist.service` puts them together and :mod:`bot.assist.app` serves
them over HTTP with the agent console.
"""
