"""Folium plumbing for self-contained HTML maps: siting's elements, inlined assets, rendering.

Folium loads Leaflet, jQuery, Bootstrap and icon fonts from public CDNs by default;
offline, and on networks where those CDNs are unreachable, such a page is blank. Here
every folium CDN link is dropped and Leaflet and Leaflet.markercluster are inlined from
the installed XStatic packages, together with ``siting/assets`` (layer drawing, legend
and summary panels, fullscreen and distance-measure controls).
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

ASSETS = Path(__file__).parent / "assets"


class RawHtml(Element):
    """An element rendered verbatim (no Jinja on its content)."""

    _template = Template("{{ this.text }}")

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "SitingAssets"
        self.text = text


class GeoLayer(Layer):
    """A switchable layer drawn by ``siting.geoLayer`` from an embedded FeatureCollection."""

    _template = Template("{% macro script(this, kwargs) %}"
                         "var {{ this.get_name() }} = siting.geoLayer({{ this.options }});\n"
                         "{% endmacro %}")

    def __init__(self, name: str, data: dict, style: dict, tooltip=(), popup=(), title: str | None = None,
                 point: str = "circle", cluster: bool = False, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "SitingLayer"
        self.options = js({"data": data, "style": style, "tooltip": [list(f) for f in tooltip],
                            "popup": [list(f) for f in popup], "title": title, "point": point,
                            "cluster": cluster})


class MapScript(MacroElement):
    """JavaScript run with the Leaflet map bound to ``map``."""

    _template = Template("{% macro script(this, kwargs) %}"
                         "(function (map) {\n{{ this.code }}\n})({{ this._parent.get_name() }});\n"
                         "{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "SitingScript"
        self.code = code


def js(obj) -> str:
    """Compact, deterministic JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset_text(package: str, name: str) -> str:
    module = __import__(f"xstatic.pkg.{package}", fromlist=["BASE_DIR"])
    return (Path(module.BASE_DIR) / name).read_text(encoding="utf-8")


def _leaflet_css() -> str:
    """Leaflet's CSS with its layer-control icons as data URIs (no relative file fetches)."""
    import xstatic.pkg.leaflet as leaflet

    css = _asset_text("leaflet", "leaflet.css")
    for image in ("layers.png", "layers-2x.png", "marker-icon.png"):
        data = base64.b64encode((Path(leaflet.BASE_DIR) / "images" / image).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url(data:image/png;base64,{data})")
    return css


def assets_html() -> str:
    """Inline ``<style>`` and ``<script>`` with Leaflet, markercluster and siting's helpers."""
    css = "\n".join([_leaflet_css(), _asset_text("leaflet_markercluster", "MarkerCluster.css"),
                     _asset_text("leaflet_markercluster", "MarkerCluster.Default.css"),
                     (ASSETS / "siting-map.css").read_text(encoding="utf-8")])
    js = "\n".join([_asset_text("leaflet", "leaflet.js"),
                    _asset_text("leaflet_markercluster", "leaflet.markercluster.js"),
                    (ASSETS / "siting-map.js").read_text(encoding="utf-8")])
    js = js.replace("</script", "<\\/script")
    return f"<style>\n{css}\n</style>\n<script>\n{js}\n</script>\n"


def offline(root) -> None:
    """Drop every CDN link of folium elements (the assets are inlined) and make names stable."""
    counter = 0

    def walk(element) -> None:
        nonlocal counter
        if isinstance(element, JSCSSMixin):
            element.default_js = []
            element.default_css = []
        element._id = f"{counter:05d}"  # folium uses random ids; these keep the bytes reproducible
        counter += 1
        for child in list(element._children.values()):
            walk(child)

    walk(root)
