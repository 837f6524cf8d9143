"""Two shortcuts in Taichi's Python front end, which runs on every kernel's first call in a process, with a warm
offline cache too (Taichi keys its cache on the IR the front end builds from the Python source).

- Source positions. Taichi formats a "File ..., line ..." message, wrapped with ``textwrap``, for every AST node
  it visits, and it visits each ``ti.func`` again at every inlined call site (the rigid step kernel: 27,000
  messages, a third of its front-end time). The message depends only on the function, the node's position and
  the indent, so it is kept and reused: the same text, once per node.
- Class detection. ``ti.func`` and ``ti.kernel`` check whether they decorate a method by reading the source line
  of the calling frame through ``inspect.getframeinfo``, which first searches every loaded module for the
  frame's file (0.2-0.4 s over physim's imports). ``linecache`` reads the same line directly.

Both give Taichi exactly what its own code would; if Taichi's internals are not as expected, nothing is changed.
Importing this module installs them (``physim/solvers/__init__`` imports it before any solver module).
Measured on the hello scene (2-core CPU, warm cache): first step 1.40 -> 1.14 s, ``import physim`` 1.2 -> 0.95 s.
"""

from __future__ import annotations

import linecache
import logging
import sys

logger = logging.getLogger("physim")
_installed = False


def install() -> None:
    """Put both shortcuts in place (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from taichi.lang import kernel_impl
        from taichi.lang.ast import ast_transformer_utils
    except ImportError as error:  # pragma: no cover - a Taichi without these modules: leave it as it is
        logger.debug("physim: Taichi front-end shortcuts unavailable (%s)", error)
        return
    context = getattr(ast_transformer_utils, "ASTTransformerContext", None)
    if context is not None and hasattr(context, "get_pos_info") and hasattr(kernel_impl, "_inside_class"):
        context.get_pos_info = _kept_positions(context.get_pos_info)
        kernel_impl._inside_class = _make_inside_class(kernel_impl._KERNEL_CLASS_STACKFRAME_STMT_RES)


def _kept_positions(get_pos_info):
    messages: dict[tuple, str] = {}

    def kept_pos_info(self, node) -> str:
        key = (self.file, self.func.func, self.lineno_offset, self.indent, type(node), node.lineno, node.end_lineno,
               node.col_offset, node.end_col_offset)
        message = messages.get(key)
        if message is None:
            message = messages[key] = get_pos_info(self, node)
        return message

    return kept_pos_info


def _make_inside_class(patterns):
    def inside_class(level_of_class_stackframe: int) -> bool:
        """Whether the frame that many levels up is at a class statement (or a ``data_oriented`` decorator)."""
        try:
            frame = sys._getframe(level_of_class_stackframe)  # counted from here, as Taichi's own does
        except ValueError:
            return False
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno, frame.f_globals).strip()
        return any(pattern.match(line) for pattern in patterns)

    return inside_class


install()
