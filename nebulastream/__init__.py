"""NebulaStream: a crypto price data lake you own, on AWS or on one laptop."""

__version__ = "0.1.0"
