"""Turning model descriptions (MJCF, URDF, Python builder calls) into a ``Model``."""
