"""Sources: what `analyze`, `predict` and `Tracker` accept, turned into
what the engine reads.

A path goes through as it is. Arrays become C-contiguous numpy arrays
whose bytes the engine reads in place (``__array_interface__``): numpy
arrays as they are, CPU torch tensors through ``Tensor.numpy()`` (a view),
bfloat16 tensors as an int16 view with the dtype ``BF16``, DLPack objects
through ``numpy.from_dlpack`` and buffer-protocol objects through
``memoryview``, all without a copy. Copies happen only where the layout
asks for one, and are said here: a tensor on a GPU is copied to the CPU, a
non-contiguous (transposed, sliced) array is made contiguous.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ._specscope import SpecscopeError

#: One tensor as the engine takes it: (name, contiguous numpy array, dtype
#: override such as ``"BF16"`` or None).
ArrayItem = Tuple[str, np.ndarray, Optional[str]]

_DTYPE_NAMES = {
    "bfloat16": "BF16",
    "bf16": "BF16",
    "float16": "F16",
    "half": "F16",
    "float32": "F32",
    "float": "F32",
    "float64": "F64",
    "double": "F64",
}


def _torch() -> Any:
    """The torch module when the caller has imported it (never imported here)."""
    return sys.modules.get("torch")


def is_module(obj: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(obj, torch.nn.Module)


def _dtype_name(name: str, dtype: str) -> str:
    d = _DTYPE_NAMES.get(dtype.lower(), dtype.upper())
    if d not in ("BF16", "F16", "F32", "F64"):
        raise SpecscopeError(
            f"tensor `{name}`: dtype {dtype!r} given; the pair form takes "
            "'bfloat16', 'float16', 'float32' or 'float64'"
        )
    return d


def _from_torch(name: str, t: Any) -> Tuple[np.ndarray, Optional[str]]:
    torch = _torch()
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()  # a copy: the engine reads host memory
    if not t.is_contiguous():
        t = t.contiguous()  # a copy
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy(), "BF16"
    try:
        return t.numpy(), None
    except (TypeError, RuntimeError) as e:
        raise SpecscopeError(f"tensor `{name}`: {e}") from None


def as_array(name: str, value: Any) -> Tuple[np.ndarray, Optional[str]]:
    """One value as (contiguous numpy array, dtype override), copying only
    when the layout requires it."""
    dtype: Optional[str] = None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
        value, given = value
        dtype = _dtype_name(name, given)
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):
        arr, own = _from_torch(name, value)
        dtype = dtype or own
    elif isinstance(value, np.ndarray):
        arr = value
    elif hasattr(value, "__dlpack__"):
        try:
            arr = np.from_dlpack(value)
        except (TypeError, BufferError, RuntimeError, ValueError) as e:
            raise SpecscopeError(
                f"tensor `{name}`: DLPack export refused ({e}); for bfloat16 "
                "pass (uint16 view, 'bfloat16')"
            ) from None
    else:
        try:
            arr = np.asarray(memoryview(value))
        except TypeError:
            raise SpecscopeError(
                f"tensor `{name}`: {type(value).__name__} is not an array "
                "(numpy, torch, DLPack or buffer-protocol object)"
            ) from None
    if dtype is None and arr.dtype.name == "bfloat16":  # ml_dtypes' bfloat16
        dtype = "BF16"
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)  # a copy
    return arr, dtype


def named_values(source: Any) -> List[Tuple[str, Any]]:
    """The (name, value) pairs of a mapping, or a module's weight
    parameters of two dimensions and more."""
    if is_module(source):
        return [(n, p) for n, p in source.named_parameters() if p.dim() >= 2]
    if isinstance(source, Mapping):
        for k in source:
            if not isinstance(k, str):
                raise SpecscopeError(f"tensor names must be strings, got {k!r}")
        return list(source.items())
    raise SpecscopeError(
        f"{type(source).__name__} is not a source: give a path, a mapping "
        "name → array, or a torch.nn.Module"
    )


PathLike = Union[str, "os.PathLike[str]"]


def resolve(source: Any) -> Union[str, List[ArrayItem]]:
    """A path as a string, or the arrays of a mapping or module."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    items = []
    for name, value in named_values(source):
        arr, dtype = as_array(name, value)
        items.append((name, arr, dtype))
    return items


def copy_of(source: Any) -> List[ArrayItem]:
    """A private copy of every array of a mapping or module (a training
    snapshot: the weights change after this returns)."""
    items = []
    for name, value in named_values(source):
        torch = _torch()
        if torch is not None and isinstance(value, torch.Tensor):
            t = value.detach().to("cpu", copy=True).contiguous()
            arr, dtype = _from_torch(name, t)
        else:
            arr, dtype = as_array(name, value)
            arr = arr.copy()
        items.append((name, arr, dtype))
    return items
