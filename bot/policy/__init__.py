"""The after-sales policy: the rule table (data) and the pure rule engine.

* :mod:`bot.policy.table` validates and loads ``rules.yml``.
* :mod:`bot.policy.engine` decides, from the table and the facts, what a
  buyer can do about a problem with an order.

Importing the package reads no file.
"""
