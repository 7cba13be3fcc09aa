"""Type stubs of the extension module (python/src/lib.rs)."""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str
MEMORY_ROOT: str

class SpecscopeError(Exception): ...

_Source = Union[str, List[Tuple[str, np.ndarray, Optional[str]]]]
_Progress = Optional[Callable[..., None]]

def analyze(
    source: _Source, options: Dict[str, Any], progress: _Progress = None
) -> Dict[str, Any]: ...
def predict(
    source: _Source,
    options: Dict[str, Any],
    request: Dict[str, Any],
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def compare(
    paths: Sequence[str],
    options: Dict[str, Any],
    args: Dict[str, Any],
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def write_snapshot(path: str, source: _Source, metadata: Dict[str, str]) -> None: ...
def buffer_addresses(source: _Source) -> List[Tuple[str, int]]: ...
def cli(argv: List[str]) -> int: ...
