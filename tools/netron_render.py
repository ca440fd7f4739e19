"""Real Netron drawings of ONNX graphs, made headless: the driver behind tools/render_graphs.py.

Netron lays out its graph with the browser's text measurement, so a real browser draws it: ``netron`` serves its web
app on 127.0.0.1, the system's Chromium (through Playwright) opens it, and Netron's own export gives the SVG. The same
Chromium draws the PNGs and measures every label against its box.

Safety: the server listens on 127.0.0.1 only; every request that does not go to it is aborted (the app otherwise
calls analytics and geo-IP hosts); every wait has a timeout and raises ``NetronRenderError`` with Netron's own
message (a corrupt file, for example) instead of hanging.

Needs ``pip install netron playwright`` (never ``playwright install``: the system Chromium is used) and
``apt-get install -y chromium fonts-wqy-microhei`` (the font draws the brackets U+3008/U+3009 around tensor shapes);
``$NETRON_CHROMIUM`` names another Chromium (helpers.envcheck finds it).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import html
import json
import logging
import re
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import NamedTuple

import onnx

from helpers.config import TutorialError, written_atomically
from helpers.envcheck import browser_unavailable_reason, chromium_executable
from helpers.onnx_export import load_onnx, read_metadata, set_metadata
from helpers.onnx_inspect import constant_value, load_graph

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Netron's SVG names no concrete font; Chromium on Linux measured the text with Arial's metrics
# (Liberation Sans / Arimo), so other renderers must use those too or text spills out of the boxes.
SVG_FONTS = "'Liberation Sans', Arimo, Arial, sans-serif"  # single quotes: it goes inside style="..."
# Show node attributes (e.g. Cast's "to", Conv's pads) and the initializers inside each node.
VIEW_OPTIONS = {"attributes": True, "weights": True, "names": False, "direction": "vertical"}
# The parts of the ResNet18 graph the notebooks show before and after an edit (--region of render_graphs.py).
REGIONS = {
    "stem-conv": {"inputs": ["input"], "outputs": ["/layer1/0/conv1/DequantizeLinear_output_0"],
                  "label": "stem convolution (input -> the DequantizeLinear in front of layer1.0.conv1)"},
    # layer2.0: a block with a downsample Conv on its shortcut, so both Add inputs come from Convs.
    "residual-block": {"inputs": ["/layer1/1/Relu_output_0"], "outputs": ["/layer2/0/Relu_output_0"],
                       "label": "residual block layer2.0 (main branch and downsample shortcut)"},
}
# Each drawn node an edit changed is outlined in the colour of its kind of change.
CHANGE_COLORS = {"removed": "#d62728", "rewritten": "#ff7f0e", "added": "#2ca02c"}
CHANGE_MEANING = {"removed": "removed", "rewritten": "rewritten (reads other inputs or constants)", "added": "added"}
PNG_SCALE = 1.5  # device pixels per SVG pixel in the PNGs


class NetronRenderError(TutorialError):
    """A render that could not finish: no browser, Netron's error message, or a timeout."""


# ---------------------------------------------------------------------------------------------
# The browser, and Netron's own export
# ---------------------------------------------------------------------------------------------

# Runs in the page before Netron's own scripts.
INIT_SCRIPT = """
(options) => {
    // Netron replaces window.eval with a function that throws; Playwright's evaluate needs the real one.
    const realEval = window.eval;
    Object.defineProperty(window, 'eval', { get: () => realEval, set: () => {}, configurable: true });
    // View options (attributes shown, layout direction) are read from localStorage.
    try { window.localStorage.setItem('options', JSON.stringify(options)); } catch (e) { }
    // Without <meta name="date"> Netron takes the build to be new: no blocking "please update" dialog.
    document.addEventListener('DOMContentLoaded', () => {
        for (const meta of document.querySelectorAll('meta[name="date"]')) { meta.remove(); }
    });
}
"""

STATE_SCRIPT = """
() => {
    const body = document.body;
    if (!body) { return null; }
    const classes = body.classList;
    const message = document.getElementById('message-text');
    const text = message ? message.innerText : '';
    if (classes.contains('alert') || (classes.contains('notification') && !classes.contains('spinner'))
        || (classes.contains('message') && text)) {
        return 'failed:' + text;
    }
    const view = window.__view__;
    if (view && view.activeTarget && classes.contains('default') && document.querySelector('#canvas #origin .node')) {
        return 'drawn';
    }
    return null;
}
"""

# Netron's own export, with the host's download callback replaced so the bytes come back here.
EXPORT_SCRIPT = """
async ([name, timeoutMs]) => {
    const view = window.__view__;
    const host = view._host;
    const original = host.export;
    const exported = new Promise((resolve, reject) => {
        host.export = async (file, blob) => {
            const reader = new FileReader();
            reader.onload = () => resolve(reader.result);
            reader.onerror = () => reject(new Error('cannot read the exported ' + file));
            reader.readAsDataURL(blob);
        };
        view.export(name).catch(reject);
    });
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('export timed out')), timeoutMs));
    try {
        return await Promise.race([exported, timeout]);
    } finally {
        host.export = original;
    }
}
"""

# Every text of a node that lies outside the node's border (half a pixel of slack).
TEXT_FIT_SCRIPT = """
() => {
    const outside = [];
    for (const node of document.querySelectorAll('g.node')) {
        const border = node.querySelector(':scope > path.node-border');
        if (!border) { continue; }
        const box = border.getBoundingClientRect();
        for (const text of node.querySelectorAll('text')) {
            const r = text.getBoundingClientRect();
            if (r.width === 0) { continue; }
            if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
                outside.push(text.textContent);
            }
        }
    }
    return outside;
}
"""


def _first_line(error: Exception) -> str:
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


@contextlib.contextmanager
def headless_chromium(timeout_s: float = 60.0):
    """One headless Chromium (through Playwright) for a series of exports, drawings and checks; closed afterwards."""
    reason = browser_unavailable_reason()
    if reason:
        raise NetronRenderError(f"Cannot render: {reason}.")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=timeout_s * 1000)
        except PlaywrightError as error:
            raise NetronRenderError(f"Chromium ({chromium_executable()}) did not start: {_first_line(error)}") from error
        try:
            yield browser
        finally:
            browser.close()


class NetronExport(NamedTuple):
    data: bytes  # the SVG or PNG file
    blocked_urls: list[str]  # requests aborted because they did not go to the local server
    server_address: tuple[str, int]  # where Netron served the file (stopped when the export returns)


def netron_export(browser, path: Path, fmt: str = "svg", timeout_s: float = 60.0) -> NetronExport:
    """Netron's own SVG (or PNG) export of an ONNX file, drawn in ``browser`` (from ``headless_chromium``).

    Raises ``NetronRenderError`` with Netron's message when it cannot open the file, or when drawing takes longer
    than ``timeout_s``.
    """
    import netron
    from playwright.sync_api import Error as PlaywrightError

    path = Path(path)
    if fmt not in ("svg", "png"):
        raise TutorialError(f"fmt must be 'svg' or 'png', not {fmt!r}")
    if not path.is_file():
        raise TutorialError(f"{path} does not exist.")
    if not logging.getLogger().hasHandlers():  # netron.start would configure INFO logging ("Serving ...")
        logging.getLogger().addHandler(logging.NullHandler())
    deadline = time.monotonic() + timeout_s

    def remaining_ms() -> int:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NetronRenderError(f"Rendering {path.name} with Netron did not finish within {timeout_s:g} s.")
        return max(1, int(left * 1000))

    address = netron.start(str(path), address=("127.0.0.1", 0), browse=False)
    origin = f"http://127.0.0.1:{address[1]}"
    blocked: list[str] = []

    def only_local(route):
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
        try:
            context.route("**/*", only_local)
            # Netron waits for a cookie-consent answer unless this cookie exists.
            context.add_cookies([{"name": "consent", "value": str(int(time.time() * 1000)), "url": origin}])
            context.add_init_script(script=f"({INIT_SCRIPT})({json.dumps(VIEW_OPTIONS)})")
            page = context.new_page()
            page.goto(origin + "/", wait_until="domcontentloaded", timeout=remaining_ms())
            state = page.wait_for_function(STATE_SCRIPT, timeout=remaining_ms()).json_value()
            if state.startswith("failed:"):
                message = state[len("failed:"):].strip() or "no message"
                raise NetronRenderError(f"Netron could not show {path.name}: {message}")
            data_url = page.evaluate(EXPORT_SCRIPT, [f"model.{fmt}", remaining_ms()])
        finally:
            context.close()
    except PlaywrightError as error:
        first_line = _first_line(error)
        if "Timeout" in first_line or "timed out" in first_line:
            raise NetronRenderError(f"Rendering {path.name} with Netron did not finish within {timeout_s:g} s "
                                    f"({first_line}).") from error
        raise NetronRenderError(f"Rendering {path.name} with Netron failed: {first_line}") from error
    finally:
        netron.stop(address)
        while netron.status(address) and time.monotonic() < deadline + 2:  # the server thread ends within 0.25 s
            time.sleep(0.05)
    return NetronExport(base64.b64decode(data_url.split(",", 1)[1]), blocked, address)


def _in_blank_page(browser, svg: str, timeout_s: float, action):
    """``action(page)`` on a page that holds only ``svg`` as ``portable_svg`` makes it (all network aborted)."""
    from playwright.sync_api import Error as PlaywrightError

    page = browser.new_page(device_scale_factor=PNG_SCALE, viewport={"width": 1600, "height": 1200})
    try:
        page.route("**/*", lambda route: route.abort())
        page.set_content(f'<html><body style="margin:0;background:#fff">{portable_svg(svg)}</body></html>',
                         timeout=timeout_s * 1000)
        return action(page)
    except PlaywrightError as error:
        raise NetronRenderError(f"Chromium could not draw the SVG: {_first_line(error)}") from error
    finally:
        page.close()


def svg_to_png(browser, svg: str, timeout_s: float = 60.0) -> bytes:
    """The SVG drawn by the Chromium that laid it out, as PNG (``PNG_SCALE`` x its size): a PNG looks the same
    everywhere, while an SVG shown elsewhere uses that viewer's fonts and a label can spill out of its box."""
    def screenshot(page) -> bytes:
        return page.locator("svg").first.screenshot(timeout=timeout_s * 1000)

    return _in_blank_page(browser, svg, timeout_s, screenshot)


def text_outside_boxes(browser, svg: str, timeout_s: float = 60.0) -> list[str]:
    """The texts that spill out of their node's box when Chromium draws the SVG ([] when every label fits)."""
    return _in_blank_page(browser, svg, timeout_s, lambda page: page.evaluate(TEXT_FIT_SCRIPT))


# ---------------------------------------------------------------------------------------------
# Regions, changes, SVG text
# ---------------------------------------------------------------------------------------------

def extract_region(model_path: Path, region_path: Path, region: dict) -> Path:
    """Write the part of a model between ``region["inputs"]`` and ``region["outputs"]`` as its own ONNX file,
    with the model's metadata marked with what the region is (it is not a classifier)."""
    model_path, region_path = Path(model_path), Path(region_path)
    tensors = {name for node in load_onnx(model_path).graph.node for name in node.output} | {"input"}
    missing = [name for name in region["inputs"] + region["outputs"] if name not in tensors]
    if missing:
        raise TutorialError(f"{model_path.name} has no tensor(s) {missing}; is it the tutorial's INT8 ResNet18?")
    onnx.utils.extract_model(str(model_path), str(region_path), region["inputs"], region["outputs"], check_model=True)
    extracted = onnx.load(str(region_path))
    set_metadata(extracted, {**read_metadata(model_path), "region": region["label"], "region_of": model_path.name,
                             "output_name": ",".join(region["outputs"]),
                             "output_meaning": "an inner activation (a region cut out for viewing)"})
    onnx.save(extracted, str(region_path))
    return region_path


def node_changes(before_path: Path, after_path: Path) -> dict[str, dict[str, str]]:
    """Which nodes a graph edit removed, added or rewrote, by node name: {"before": {...}, "after": {...}}.

    "rewritten" means the node is in both graphs but reads other tensors or other constant values (a new zero
    point, a float bias, a Q read directly instead of through a Cast). Constants are compared by value, and
    ``Constant`` nodes themselves are left out (Netron draws their values inside the nodes that read them).
    """
    def read_as(tensor) -> tuple:  # a tensor by its name, a constant by its value
        value = constant_value(tensor)
        return ("tensor", tensor.name) if value is None else (str(value.dtype), value.shape, value.tobytes())

    def inputs_of(path: Path) -> dict[str, tuple]:
        return {node.name: tuple(map(read_as, node.inputs)) for node in load_graph(path).nodes if node.op != "Constant"}

    before, after = inputs_of(before_path), inputs_of(after_path)
    changes = {"before": {}, "after": {}}
    for name in before:
        if name not in after:
            changes["before"][name] = "removed"
        elif before[name] != after[name]:
            changes["before"][name] = changes["after"][name] = "rewritten"
    changes["after"].update({name: "added" for name in after if name not in before})
    return changes


def _svg_root_tag(text: str) -> re.Match:
    match = re.search(r"<svg\b[^>]*>", text)
    if match is None:
        raise TutorialError("This is not an SVG document (no <svg> element).")
    return match


def portable_svg(svg: bytes | str) -> str:
    """Netron's SVG made to scale (a viewBox) and to keep its text inside the boxes in any viewer (concrete fonts)."""
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    root = _svg_root_tag(text).group(0)
    width, height = re.search(r'\bwidth="([\d.]+)', root), re.search(r'\bheight="([\d.]+)', root)
    if "viewBox" not in root and width and height:
        text = text.replace(root, root[:-1] + f' viewBox="0 0 {width.group(1)} {height.group(1)}">', 1)
    return re.sub(r"font-family:\s*([^;\"]+)", lambda m: f"font-family: {SVG_FONTS}, {m.group(1)}"
                  if not m.group(1).startswith(SVG_FONTS) else m.group(0), text)


def highlight_nodes(svg: str, kinds: dict[str, str]) -> str:
    """The Netron SVG with each named node outlined in the colour of its kind of change (``CHANGE_COLORS``)."""
    rules = [f'g[id="node-name-{html.escape(name, quote=True)}"] path {{ stroke: {CHANGE_COLORS[kind]} !important; '
             f'stroke-width: 4px !important; }}' for name, kind in sorted(kinds.items())]
    if not rules:
        return svg
    end = _svg_root_tag(svg).end()
    return svg[:end] + "<style>" + " ".join(rules) + "</style>" + svg[end:]


SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


def _parsed_svg(svg: bytes | str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(svg.decode("utf-8") if isinstance(svg, bytes) else svg)
    except ElementTree.ParseError as error:
        raise TutorialError(f"The SVG is not well-formed XML: {error}") from error


def svg_texts(svg: bytes | str) -> list[str]:
    """The visible text of every <text> element of a Netron SVG (tooltips left out), in order."""
    lines = []
    for element in _parsed_svg(svg).iter(f"{SVG_NAMESPACE}text"):
        parts = [element.text or ""]
        for child in element:
            if child.tag != f"{SVG_NAMESPACE}title":
                parts.append("".join(child.itertext()))
            parts.append(child.tail or "")
        lines.append("".join(parts).strip())
    return lines


def drawn_node_types(svg: bytes | str) -> dict[str, int]:
    """How many nodes of each op type a Netron SVG draws (from each node's header)."""
    counts = collections.Counter()
    for group in _parsed_svg(svg).iter(f"{SVG_NAMESPACE}g"):
        if "node-item-type" in group.get("class", "").split():
            header = group.find(f"{SVG_NAMESPACE}text")
            if header is not None and header.text:
                counts[header.text.strip()] += 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------------------------------------
# One region of two graphs, before and after an edit
# ---------------------------------------------------------------------------------------------

def _write(path: Path, data: bytes | str) -> Path:
    with written_atomically(path) as partial:
        partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def render_before_after(before_path: Path, after_path: Path, region_name: str, out_dir: Path,
                        whole_after: bool = False, timeout_s: float = 60.0) -> dict:
    """Draw one region of two graphs with Netron, outline what changed, and check what was drawn.

    Writes ``before.svg``/``after.svg`` (Netron's drawing, made portable), ``before.png``/``after.png`` (the same,
    changed nodes outlined) and, with ``whole_after``, ``after_whole.svg`` (the whole second graph) into ``out_dir``.
    Returns what render_info.json records about them (see tools/render_graphs.py).
    """
    region = REGIONS[region_name]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    facts = {side: {} for side in ("drawn_node_types", "drawn_texts", "text_outside_boxes")}
    with tempfile.TemporaryDirectory() as regions_dir, headless_chromium(timeout_s) as browser:
        regions = {side: extract_region(path, Path(regions_dir) / f"{side}.onnx", region)
                   for side, path in (("before", before_path), ("after", after_path))}
        outlined = node_changes(regions["before"], regions["after"])
        for side, region_path in regions.items():
            svg = portable_svg(netron_export(browser, region_path, "svg", timeout_s).data)
            _write(out_dir / f"{side}.svg", svg)
            _write(out_dir / f"{side}.png", svg_to_png(browser, highlight_nodes(svg, outlined[side]), timeout_s))
            facts["drawn_node_types"][side] = drawn_node_types(svg)
            facts["drawn_texts"][side] = sorted(set(svg_texts(svg)) - {""})
            facts["text_outside_boxes"][side] = text_outside_boxes(browser, svg, timeout_s)
        if whole_after:
            whole = portable_svg(netron_export(browser, after_path, "svg", timeout_s).data)
            _write(out_dir / "after_whole.svg", whole)
        chromium_version = f"Chromium {browser.version}"
    kinds_drawn = {kind for side in outlined.values() for kind in side.values()}
    return {
        "region": {"name": region_name, **region},
        "chromium": chromium_version,
        "legend": {CHANGE_COLORS[kind]: CHANGE_MEANING[kind] for kind in CHANGE_COLORS if kind in kinds_drawn},
        "outlined": outlined,
        **facts,
        "whole_after": {"file": "after_whole.svg", "drawn_node_types": drawn_node_types(whole)} if whole_after else None,
    }
