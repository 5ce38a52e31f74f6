"""See a simulation: a self-contained HTML viewer, Jupyter display, and a live editor.

    html = tumble.viewer.html(model, states)        # one offline HTML document
    tumble.viewer.save("run.html", model, states)
    tumble.viewer.show(model, states)               # inline in Jupyter

``states``: a sequence of pipeline states or env states, or one stacked pytree
of them with a leading time axis (what ``jax.lax.scan`` returns). The page
draws the model's geoms with WebGL (shadows, an orbit camera that can follow a
body, play/pause, a timeline, playback speed, body names on hover, contact
points and forces). ``tumble view MODEL.xml`` serves the live editor
(``tumble.viewer.server``).
"""

from __future__ import annotations

import os

from tumble.model import Model
from tumble.viewer import frames as frames_lib
from tumble.viewer import page, scene


def html(model: Model, states, *, max_fps: float | None = 60.0, title: str = "tumble") -> str:
    """A self-contained HTML document that plays ``states`` of ``model``.

    Args:
      model: the system that produced the states.
      states: pipeline or env states: a sequence, or a stacked pytree with a leading time axis.
      max_fps: frames closer in time than ``1 / max_fps`` are dropped (None keeps all).
      title: the page title.

    The document makes no network request: the script, styles and the
    trajectory (quantized and deflated) are inline.
    """
    blob = scene.Blob()
    header = {
        "scene": scene.geometry(model, blob),
        "trajectory": scene.trajectory(model, frames_lib.collect(model, states, max_fps), blob),
    }
    return page.page(header, blob.encode(), title)


def save(path: str | os.PathLike, model: Model, states, **kwargs) -> None:
    """Writes ``html(model, states, **kwargs)`` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(html(model, states, **kwargs))


class Inline:
    """A viewer document shown by Jupyter in an isolated iframe (``_repr_html_``)."""

    def __init__(self, document: str, height: int = 480):
        self.document = document
        self.height = int(height)

    def _repr_html_(self) -> str:
        import html as html_lib

        doc = html_lib.escape(self.document, quote=True)
        return f'<iframe srcdoc="{doc}" style="width:100%;height:{self.height}px;border:0"></iframe>'


def show(model: Model, states, *, height: int = 480, **kwargs) -> Inline:
    """Displays ``html(model, states, **kwargs)`` inline in Jupyter (``height`` px tall) and returns it."""
    from IPython.display import display

    inline = Inline(html(model, states, **kwargs), height)
    display(inline)
    return inline


__all__ = ["html", "save", "show"]
