# Test collection from a checkout (the README's `pytest --doctest-modules onnxlosses tests`):
# the Dask front end's doctests need dask, an optional dependency; without it they are left
# out here and tests/test_dask.py reports the skip.
import importlib.util

collect_ignore = [] if importlib.util.find_spec("dask") else ["onnxlosses/dask.py"]
