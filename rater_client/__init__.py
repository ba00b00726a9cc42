"""The rater tablet: its pages and JavaScript (``templates/``, ``static/``), and a Python
client (:mod:`rater_client.client`) that speaks the same protocol.
"""

from pathlib import Path

ASSETS = Path(__file__).parent

from .client import RaterClient, Refused  # noqa: E402

__all__ = ["ASSETS", "RaterClient", "Refused"]
