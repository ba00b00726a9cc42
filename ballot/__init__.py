"""Pure counting for the kiosk: score sheets and the interview-score rule today;
lot drawing and democratic-evaluation ballots join it later.

No Flask, no database, no globals: callers pass everything in, so the same code
serves the server, the rehearsal driver and an independent verifier.
"""
