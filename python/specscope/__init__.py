"""specscope from Python: eigen-spectra of neural-network weights, and what
they predict — the engine of the ``specscope`` CLI, on a path, on arrays
already in memory (numpy, torch, DLPack), or on a ``torch.nn.Module``.

>>> import specscope
>>> df = specscope.analyze("model.safetensors")          # doctest: +SKIP
>>> df[["name", "alpha", "stable_rank", "density"]]       # doctest: +SKIP

Every function returns a pandas DataFrame with the columns of the CLI's
CSV; errors are `SpecscopeError` with the library's message; the engine
runs with the interpreter released.
"""

from ._api import analyze, compare, predict, summary
from ._options import SpecscopeWarning
from ._specscope import SpecscopeError, __version__
from ._tracker import Tracker

__all__ = [
    "SpecscopeError",
    "SpecscopeWarning",
    "Tracker",
    "__version__",
    "analyze",
    "compare",
    "predict",
    "summary",
]
