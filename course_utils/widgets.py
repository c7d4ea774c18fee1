"""Interactive widgets (ipywidgets) for the notebooks; the models they drive live in ``models/``.

    explorer = LatentExplorer(lambda z: decode_probs(model, z), start, order=order)
    explorer             # as a cell's last line: the starting image as a plain PNG, then the live sliders
    explorer.update()    # decodes the sliders' code once and returns the PNG bytes (runs headless too)

A saved notebook keeps ordinary outputs but not always a widget's live state: JupyterLab saves widget
state only when "Save Widget State Automatically" is on (``course_utils/dgm-course-jupyterlab.json`` makes
that the default where the course is installed from its wheel), and a static view (GitHub, the course
website, nbconvert) has no kernel at all. So a widget that matters to the lesson displays its starting
picture as a plain PNG output first: every view of the saved notebook shows that picture, whatever
happens to the widget.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import torch

SLIDER_MIN_WIDTH = 200   # px: a slider column is at least this wide; columns wrap to fit the output area
IMAGE_NOTE = "the starting image, kept as a plain picture in saved and static views; the live explorer follows:"


def png_bytes(image: torch.Tensor, scale: int = 1) -> bytes:
    """Encode one grey image (H, W) or (1, H, W) in [0, 1] (clipped) as PNG bytes, dark ink on white.

    scale: an int >= 1, each pixel becomes a scale x scale block (nearest neighbour, no blur).
    """
    if not torch.is_tensor(image) or image.dim() not in (2, 3) or (image.dim() == 3 and image.shape[0] != 1):
        raise ValueError(f"expected one grey image of shape (H, W) or (1, H, W), got "
                         f"{tuple(image.shape) if torch.is_tensor(image) else type(image).__name__}")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an int >= 1, got {scale!r}")
    import matplotlib.image

    pixels = image.detach().float().cpu().reshape(image.shape[-2], image.shape[-1]).clamp(0, 1)
    big = pixels.repeat_interleave(scale, 0).repeat_interleave(scale, 1).numpy()
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, big, cmap="gray_r", vmin=0, vmax=1, format="png")
    return buffer.getvalue()


class LatentExplorer:
    """One slider per latent dimension; moving any slider decodes the code and redraws the digit.

    decode: a function z float (1, D) -> pixel probabilities (1, 1, H, W) in [0, 1], e.g.
    ``lambda z: decode_probs(model, z)``. start: float (D,), the sliders' first values. order: the
    dimensions in the order to show them (e.g. most-used first); labels: one short note per dimension.
    limit: each slider's range is [-limit, limit]; scale: the image is shown scale times its size.

    Displaying the explorer (a cell's last expression, or ``display(explorer)``) shows the starting image
    as a plain PNG output, then ``widget``: the live image with reset buttons and the sliders, in as many
    columns as fit the output area (at least ``SLIDER_MIN_WIDTH`` px each, so it fits a narrow notebook).
    ``update()`` redraws and returns the PNG bytes; it also runs headless, without a browser.
    """

    def __init__(self, decode: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor,
                 order: list[int] | None = None, labels: list[str] | None = None, limit: float = 3.0,
                 scale: int = 6):
        import ipywidgets as widgets

        if not torch.is_tensor(start) or start.dim() != 1 or not start.is_floating_point():
            raise ValueError(f"start must be one float code of shape (D,), got "
                             f"{tuple(start.shape) if torch.is_tensor(start) else type(start).__name__}")
        dims = len(start)
        order = list(range(dims)) if order is None else list(order)
        if sorted(order) != list(range(dims)):
            raise ValueError(f"order must list each of the {dims} dimensions once, got {order}")
        if labels is not None and len(labels) != dims:
            raise ValueError(f"labels must give one note per dimension ({dims}), got {len(labels)}")
        if not limit > 0:
            raise ValueError(f"limit must be positive, got {limit}")
        self.decode, self.scale, self.start = decode, scale, start.detach().cpu().float().clone()
        self._quiet = False
        self.sliders = {}
        for d in order:
            note = f" {labels[d]}" if labels else ""
            self.sliders[d] = widgets.FloatSlider(value=float(self.start[d]), min=-limit, max=limit, step=0.05,
                                                  description=f"z{d}{note}", continuous_update=True,
                                                  readout_format=".2f",
                                                  layout=widgets.Layout(width="auto", min_width="0"),
                                                  style={"description_width": "72px"})
            self.sliders[d].observe(lambda _change: self.update(), names="value")
        size = f"{28 * scale}px"
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=size, height=size))
        reset = widgets.Button(description="reset", layout=widgets.Layout(width="80px"))
        zero = widgets.Button(description="z = 0", layout=widgets.Layout(width="80px"))
        reset.on_click(lambda _b: self.set(self.start))
        zero.on_click(lambda _b: self.set(torch.zeros(dims)))
        # auto-fill: as many columns of at least SLIDER_MIN_WIDTH px as the output area holds (3 in a
        # 1,000-px notebook, more on a wide screen, 1 on a phone); the grid may shrink, never overflow
        self.grid = widgets.GridBox(list(self.sliders.values()), layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, minmax({SLIDER_MIN_WIDTH}px, 1fr))",
            grid_gap="2px 8px", flex="1 1 0%", min_width="0", width="auto"))
        left = widgets.VBox([self.image, widgets.HBox([reset, zero])], layout=widgets.Layout(flex="0 0 auto"))
        self.widget = widgets.HBox([left, self.grid], layout=widgets.Layout(width="100%", max_width="100%",
                                                                            flex_flow="row"))
        self.update()

    def code(self) -> torch.Tensor:
        """The sliders' current code, float (D,)."""
        z = torch.zeros(len(self.sliders))
        for d, slider in self.sliders.items():
            z[d] = slider.value
        return z

    def set(self, z: torch.Tensor) -> None:
        """Move every slider to z (D,) and redraw once."""
        if not torch.is_tensor(z) or tuple(z.shape) != (len(self.sliders),):
            raise ValueError(f"z must be one code of shape ({len(self.sliders)},), got "
                             f"{tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}")
        self._quiet = True
        try:
            for d, slider in self.sliders.items():
                slider.value = float(z[d])
        finally:
            self._quiet = False
        self.update()

    def update(self) -> bytes:
        """Decode the current code and show it; returns the PNG bytes shown."""
        if self._quiet:
            return bytes(self.image.value)
        probs = self.decode(self.code().unsqueeze(0))
        if not torch.is_tensor(probs) or probs.dim() != 4 or probs.shape[:2] != (1, 1):
            raise ValueError(f"decode must return pixel probabilities of shape (1, 1, H, W), got "
                             f"{tuple(probs.shape) if torch.is_tensor(probs) else type(probs).__name__}")
        png = png_bytes(probs[0, 0], self.scale)
        self.image.value = png
        return png

    def static_png(self) -> bytes:
        """The PNG of the starting code ``start`` (whatever the sliders show now)."""
        probs = self.decode(self.start.unsqueeze(0))
        return png_bytes(probs[0, 0], self.scale)

    def _ipython_display_(self) -> None:
        """Show the starting image as a plain PNG output (kept by every saved or static view), then the widget."""
        from IPython.display import Image, display

        print(IMAGE_NOTE)
        display(Image(data=self.static_png(), format="png"))
        display(self.widget)
