"""Helpers shared by the test packages (samples, stores, tokens, browsers); no tests here.

`tests/conftest.py` puts `tests/` on the import path, so a test imports these as `support.NAME`.
"""
