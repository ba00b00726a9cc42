"""Credentials and, later, signatures, sealing and the tamper-evident log.

Terms:
- *token*: a one-time secret handed to a person (printed as a QR code) that
  proves a right once: enrol a rater seat, open an observer screen.
- *credential*: the long-lived secret a device receives in exchange for a token.
- Only digests of tokens and credentials are stored, so a copy of the database
  does not let anyone impersonate a tablet or a screen.
"""
