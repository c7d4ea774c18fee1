"""course_utils: the small helper package behind the Deep Generative Models notebooks.

One concern per module: ``config`` (profiles, seeding, device), ``data`` (MNIST and toy data),
``train`` (the training loop), ``checkpoint``, ``plotting``, ``metrics``, ``results`` (headline
numbers), ``checks`` (exercise feedback), ``release`` (solutions -> student notebooks),
``runner`` (execute the course), ``doctor`` (environment report), ``models`` (reference models).
"""

from .config import setup
from .results import record

__all__ = ["setup", "record"]
__version__ = "0.1.0"
