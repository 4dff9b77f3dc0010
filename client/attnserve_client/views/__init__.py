"""Renderings of an ``Explanation``: HTML (notebooks, files), ANSI terminal text, PNG overlays.

Every view returns a value (a string or PNG bytes) and displays nothing itself.
"""
