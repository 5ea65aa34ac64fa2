"""Hidden cases per chapter: ``chapters/chN.py`` defines ``CASES = {function name: [Case, ...]}``."""
