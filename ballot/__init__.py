"""Pure counting for the kiosk: score sheets and the interview-score rule; lot drawing;
democratic-evaluation ballots; and the results (``model``, ``written``, ``composite``,
``allocation``, ``reasons``, ``results``, ``raters``, ``names``: see docs/results.md).

No Flask, no database, no globals: callers pass everything in, so the same code
serves the server, the rehearsal driver and an independent verifier.
"""
