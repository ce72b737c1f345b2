"""The generated source of a model's kernels, for people to read.

:func:`kernel_source` returns exactly what biosnn runs for a model: the C translation
unit that :func:`biosnn.simulate` compiles for a method (``backend="c"``), or the
Python source of the NumPy kernel.  ``biosnn show MODEL --code c|numpy [--method M]``
prints the same text.
"""

from __future__ import annotations

__all__ = ["TARGETS", "kernel_source"]

#: The targets of :func:`kernel_source`.
TARGETS = ("c", "numpy")


def kernel_source(model, target: str = "c", method: str = "rk4", *, runtime: bool = True) -> str:
    """The generated source of ``model``'s kernel.

    Parameters
    ----------
    model : Model
    target : {"c", "numpy"}
        ``"c"``: the C99 translation unit that ``simulate(model, ..., method=method,
        backend="c")`` compiles - the model's functions, which name its states and
        parameters (``const double V_ = y[0];``), and the C runtime of the method's
        driver family (``biosnn/codegen/runtime/``).  ``"numpy"``: the Python source of
        the NumPy kernel (one for every method).
    method : str
        A method name of :func:`biosnn.simulate` (``"rk4"``, ``"rk45"``, ``"rodas4"``,
        ...); it chooses the C driver family.
    runtime : bool
        C only: False leaves the runtime files out (each replaced by a one-line comment
        naming it), leaving the generated part to read.

    Returns
    -------
    str

    Raises
    ------
    MethodError
        An unknown method.
    ValueError
        An unknown target.

    Examples
    --------
    >>> import biosnn
    >>> hh = biosnn.load_model("hodgkin_huxley")
    >>> src = biosnn.kernel_source(hh, "c", method="rk4", runtime=False)
    >>> print(src[src.index("static int bs_threshold("):].split("}")[0] + "}")
    static int bs_threshold(double t, const double *restrict y, const double *restrict p) {
        (void)t; (void)y; (void)p;
        const double V_ = y[0];
        return ((V_ > 0)) ? 1 : 0;
    }
    """
    from biosnn.codegen.c_abi import family_of

    family = family_of(method)  # also checks the method for the NumPy target
    if target == "c":
        from biosnn.codegen.c_runtime import generate_source

        return generate_source(model.kernel_spec(), family, runtime=runtime)
    if target == "numpy":
        from biosnn.codegen.numpy_backend import NumpyKernel

        return NumpyKernel(model.layout).source
    raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
