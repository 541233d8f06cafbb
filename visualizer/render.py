"""DOT -> SVG with graphviz's `dot` binary (Debian's graphviz package).

A subprocess rather than a library binding: a layout that runs away can be killed by
its timeout without taking the web worker with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess

# Graphviz's layout engines; anything else is refused rather than looked up on PATH.
ENGINES = frozenset({"dot", "neato", "fdp", "sfdp", "circo", "twopi", "osage", "patchwork"})
DEFAULT_TIMEOUT = 10.0

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)


class RenderError(RuntimeError):
    """graphviz could not lay out the graph (or is not installed, or took too long)."""


def render_svg(dot: str, engine: str = "dot", timeout: float = DEFAULT_TIMEOUT) -> str:
    """Lay out `dot` and return the <svg> element alone, ready to inline in HTML.

    The XML prolog, DOCTYPE and generator comments before <svg> are dropped (an XML
    declaration inside HTML is a parse error); a standalone .svg download should put
    `<?xml version="1.0" encoding="UTF-8"?>` back in front.
    """
    if engine not in ENGINES:
        raise RenderError(f"unknown graphviz engine {engine!r}")
    binary = shutil.which(engine)
    if binary is None:
        raise RenderError(f"graphviz's `{engine}` is not installed (apt-get install graphviz)")
    try:
        result = subprocess.run(
            [binary, "-Tsvg"],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        raise RenderError(f"graphviz took longer than {timeout:g} s to lay out the graph") from exc
    except OSError as exc:
        raise RenderError(f"graphviz could not be started: {exc}") from exc
    if result.returncode != 0 or b"<svg" not in result.stdout:
        message = result.stderr.decode("utf-8", errors="replace").strip() or "no output"
        raise RenderError(f"graphviz failed (exit {result.returncode}): {message[:500]}")
    svg = result.stdout.decode("utf-8", errors="replace")
    return _PROLOG.sub("", svg, count=1)
