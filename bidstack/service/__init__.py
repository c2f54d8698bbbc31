"""The market service: participants submit offers, bids and meter reads over HTTP and fetch
their own settlement statements (``bidstack service``; needs the ``service`` extra).

It is a thin layer over a database (SQLite in WAL mode by default, PostgreSQL by URL):

- :mod:`~bidstack.service.db`: the tables, the engine, write transactions and migrations;
- :mod:`~bidstack.service.keys`: API keys (HMAC-SHA256 with a server secret), participants and
  their units and meters;
- :mod:`~bidstack.service.audit`: the append-only, hash-chained audit log;
- :mod:`~bidstack.service.app`: the FastAPI application (:func:`create_app`) and its routes, with
  :mod:`~bidstack.service.auth` (the key, its scopes and rate limits),
  :mod:`~bidstack.service.body_limit` (the body size cap), :mod:`~bidstack.service.refusals`
  (exception handlers), :mod:`~bidstack.service.problems`, :mod:`~bidstack.service.schemas`,
  :mod:`~bidstack.service.submissions` (offers and bids), :mod:`~bidstack.service.meter_data`
  (meter reads) and :mod:`~bidstack.service.statements` behind it;
- :mod:`~bidstack.service.export`: accepted bids and meter reads into a Parquet store, for
  ``bidstack backtest``.

The request path never imports Numba: the heavy work stays in the command-line jobs.
"""
