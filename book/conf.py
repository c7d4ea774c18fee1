"""Sphinx configuration of the course website (built by ``python book/build.py``, i.e. ``make site``).

book/build.py stages the pages (executed notebooks, the notebook map, the metrics and claims table, the
lecture notes) into a folder and runs Sphinx on it with this file. myst-nb renders each notebook with the
outputs it already has (nothing is executed here); sphinx-book-theme gives the book layout.
"""

project = "Deep Generative Models, hands-on"
author = "the course's contributors"
copyright = "the course's contributors, MIT licence"

extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
html_last_updated_fmt = None
# html_copy_source stays on: the theme's download button then offers each page's executed notebook

# the notebooks arrive executed (the lecture run in build/, or a smoke run): show their outputs, run nothing
nb_execution_mode = "off"
nb_merge_streams = True
# no widget JavaScript from a CDN: build.py keeps each widget's plain fallback (the latent explorer shows its
# starting image as an ordinary PNG output), so the site works offline and never shows "Error displaying widget"
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
