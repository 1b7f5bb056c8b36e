"""kopek benchmarks: ``python -m bench`` (run from the project root) prints figures and ratios.

Nothing here is a test: pytest never collects ``bench/`` (its ``testpaths`` is ``tests``)
and a benchmark never fails a run.
"""
