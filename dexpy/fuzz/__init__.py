"""Mutation fuzzing of dexpy: `python -m dexpy.fuzz` (see docs/fuzzing.md).

`mutate` makes mutants of Dex programs, `classify` runs one bounded in a
subprocess and says what happened, `__main__` is the campaign driver.
"""
