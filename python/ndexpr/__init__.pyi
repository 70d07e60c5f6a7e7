"""Type stubs of ndexpr's Python API (numexpr-compatible)."""

from typing import Any, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
ncores: int
nthreads: int
use_vml: bool

_Order = Literal["K", "A", "C", "F"]
_Casting = Literal["no", "equiv", "safe", "same_kind", "unsafe"]

class VariableNotFoundError(KeyError):
    name: str
    message: str
    def __init__(self, name: str, message: Optional[str] = ...) -> None: ...

def evaluate(
    ex: str,
    local_dict: Optional[Mapping[str, Any]] = ...,
    global_dict: Optional[Mapping[str, Any]] = ...,
    out: Optional[np.ndarray] = ...,
    order: _Order = ...,
    casting: _Casting = ...,
    sanitize: Optional[bool] = ...,
    _frame_depth: int = ...,
    disable_cache: bool = ...,
    *,
    optimization: Literal["none", "moderate", "aggressive"] = ...,
    truediv: Union[bool, Literal["auto"]] = ...,
) -> np.ndarray:
    """Evaluate the array expression `ex` element-wise (variables from the dicts or the caller's
    frame), with NumPy 2's semantics; returns a new array, or `out`. When any variable is a
    ``dask.array.Array`` the result is a lazy ``dask.array.Array`` instead (see ``ndexpr.dask``;
    typed ``np.ndarray`` here so that NumPy-only code type-checks without Dask installed)."""

def re_evaluate(
    local_dict: Optional[Mapping[str, Any]] = ...,
    global_dict: Optional[Mapping[str, Any]] = ...,
    _frame_depth: int = ...,
) -> np.ndarray:
    """Evaluate the last expression of this thread again with fresh values of its variables."""

def validate(
    ex: str,
    local_dict: Optional[Mapping[str, Any]] = ...,
    global_dict: Optional[Mapping[str, Any]] = ...,
    out: Optional[np.ndarray] = ...,
    order: _Order = ...,
    casting: _Casting = ...,
    _frame_depth: int = ...,
    sanitize: Optional[bool] = ...,
    **kwargs: Any,
) -> Optional[Exception]:
    """Compile `ex` for the current values; None on success (then re_evaluate() runs it)."""

class NumExpr:
    """A compiled expression; call it with arrays positionally in signature order."""

    input_names: Tuple[str, ...]
    signature: Tuple[Tuple[str, np.dtype], ...]
    def __init__(
        self,
        ex: str,
        signature: Sequence[Tuple[str, npt.DTypeLike]] = ...,
        sanitize: Optional[bool] = ...,
        **kwargs: Any,
    ) -> None: ...
    @property
    def source(self) -> str: ...
    @property
    def dtype(self) -> np.dtype: ...
    def __call__(
        self,
        *args: Any,
        out: Optional[np.ndarray] = ...,
        order: _Order = ...,
        casting: _Casting = ...,
        ex_uses_vml: bool = ...,
    ) -> np.ndarray: ...
    def run(
        self,
        *args: Any,
        out: Optional[np.ndarray] = ...,
        order: _Order = ...,
        casting: _Casting = ...,
        ex_uses_vml: bool = ...,
    ) -> np.ndarray: ...

def disassemble(nex: NumExpr) -> list[list[str]]:
    """The bytecode as [opcode, destination, operands...] lists of strings."""

def set_num_threads(nthreads: int) -> int:
    """Set the number of threads (0: default); returns the previous number."""

def get_num_threads() -> int: ...
def detect_number_of_cores() -> int: ...
def isa() -> str: ...
def get_vml_version() -> None: ...
def set_vml_accuracy_mode(mode: Any) -> None: ...
def set_vml_num_threads(nthreads: int) -> None: ...
def print_versions() -> None: ...
