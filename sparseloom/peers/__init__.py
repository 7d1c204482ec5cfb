"""Peer tools run on our units for side-by-side benches (``bench/peers.py``).

They come with the optional ``peers`` extra (``pip install '.[peers]'``), never with the default
install; each module imports its tool only when it is used, and raises ``PeerMissing`` without it.
"""


class PeerMissing(RuntimeError):
    """The optional ``peers`` extra is not installed."""
