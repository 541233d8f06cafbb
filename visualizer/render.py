"""DOT -> SVG with graphviz's `dot` binary (Debian's graphviz package)."""

from __future__ import annotations

import re
import shutil
import subprocess

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)


class RenderError(RuntimeError):
    """graphviz could not lay out the graph (or is not installed)."""


def render_svg(dot: str, engine: str = "dot", timeout: float = 30) -> str:
    """Lay out `dot` and return the SVG element alone, ready to inline in HTML."""
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
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"graphviz took longer than {timeout:g} s") from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", errors="replace").strip()
        raise RenderError(f"graphviz failed: {message[:500]}")
    svg = result.stdout.decode("utf-8", errors="replace")
    # Drop the XML prolog, DOCTYPE and generator comments before <svg>.
    return _PROLOG.sub("", svg, count=1)
