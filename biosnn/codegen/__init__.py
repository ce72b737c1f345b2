"""Code generation: lowering a Model to a KernelSpec (:mod:`~biosnn.codegen.lower`), the
NumPy and C printers, the C runtime files (``runtime/``), building and loading kernels.

:func:`biosnn.kernel_source` shows what a model's kernel looks like.
"""
