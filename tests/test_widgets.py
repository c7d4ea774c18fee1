"""The latent explorer without a browser: sliders redraw the image, buttons reset it, wrong inputs get clear
errors, displaying it puts the starting picture in a plain PNG output before the widget, and its layout
wraps the sliders instead of overflowing a narrow notebook. (tests/test_browser.py drives it in JupyterLab.)"""

import base64

import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from course_utils import widgets
from course_utils.models.vae import VAE, decode_probs
from course_utils.widgets import LatentExplorer, png_bytes


@pytest.fixture
def small():
    torch.manual_seed(0)
    return VAE(latent_dim=4, hidden=16, channels=(4, 8))


@pytest.fixture
def explorer(small):
    return LatentExplorer(lambda z: decode_probs(small, z), torch.zeros(4), order=[2, 0, 1, 3],
                          labels=["a", "b", "c", "d"])


def test_sliders_redraw_and_buttons_reset(explorer):
    png = explorer.update()
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    assert list(explorer.sliders) == [2, 0, 1, 3]
    assert explorer.sliders[2].description == "z2 c"
    explorer.sliders[2].value = 1.5                         # moving a slider redraws
    assert explorer.code()[2] == 1.5 and bytes(explorer.image.value) != png
    explorer.set(torch.zeros(4))
    assert bytes(explorer.image.value) == png
    explorer.sliders[0].value = -2.0
    reset, zero = explorer.widget.children[0].children[1].children
    reset.click()                                           # back to the starting code
    assert explorer.code().tolist() == [0.0] * 4 and bytes(explorer.image.value) == png
    assert explorer.static_png() == png


def test_the_module_split():
    from course_utils.models import vae

    assert not hasattr(vae, "LatentExplorer"), "models/ holds networks and losses, widgets live in widgets.py"


@pytest.mark.parametrize("kwargs, words", [
    ({"start": torch.zeros(2, 4)}, "start"),
    ({"start": torch.zeros(4, dtype=torch.long)}, "float"),
    ({"start": torch.zeros(4), "order": [0, 1]}, "order"),
    ({"start": torch.zeros(4), "labels": ["a"]}, "labels"),
    ({"start": torch.zeros(4), "limit": 0.0}, "limit"),
])
def test_inputs_are_checked(small, kwargs, words):
    with pytest.raises(ValueError, match=words):
        LatentExplorer(lambda z: decode_probs(small, z), **kwargs)


def test_decode_output_and_set_are_checked(small, explorer):
    with pytest.raises(ValueError, match=r"\(1, 1, H, W\)"):
        LatentExplorer(lambda z: decode_probs(small, z)[0], torch.zeros(4))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        explorer.set(torch.zeros(3))
    with pytest.raises(ValueError, match="grey image"):
        png_bytes(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match="scale"):
        png_bytes(torch.zeros(28, 28), scale=0)


def test_display_puts_a_plain_png_before_the_widget(explorer):
    """What a saved or static notebook keeps: the starting image as an ordinary image/png output."""
    InteractiveShell.instance()                             # display() needs a shell, as in a kernel
    with capture_output() as captured:
        explorer._ipython_display_()
    assert widgets.IMAGE_NOTE in captured.stdout
    first, second = captured.outputs
    assert base64.b64decode(first.data["image/png"]) == explorer.static_png()
    assert "application/vnd.jupyter.widget-view+json" in second.data
    assert second.data["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id


def test_layout_fits_a_narrow_notebook(explorer):
    """Columns of at least SLIDER_MIN_WIDTH px, as many as fit: never a fixed row wider than the page."""
    grid = explorer.grid.layout
    assert grid.grid_template_columns == f"repeat(auto-fill, minmax({widgets.SLIDER_MIN_WIDTH}px, 1fr))"
    assert grid.min_width == "0"
    assert all(s.layout.width == "auto" for s in explorer.sliders.values())
    # image column + one slider column fit a 1,000-px notebook's output area (about 900 px) with room to spare
    image_column = 28 * explorer.scale + 10
    assert image_column + 2 * widgets.SLIDER_MIN_WIDTH < 900
