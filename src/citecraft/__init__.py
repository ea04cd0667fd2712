"""citecraft: answers about a collection of research papers, every claim cited."""

__version__ = "0.1.0"
