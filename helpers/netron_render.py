"""Real Netron renders of ONNX graphs, made headless with Playwright and the system's Chromium.

Introduced in notebook 03 (the graph before and after surgery). Netron lays out its graph with the
browser's text measurement, so a real browser draws it: ``netron`` serves its web app on
127.0.0.1, Chromium opens it, and Netron's own export produces the SVG (or PNG).

Safety: the server listens on 127.0.0.1 only; during a render every request that does not go to
that server is aborted (the app otherwise calls analytics and geo-IP hosts); every wait has a
timeout and raises ``NetronRenderError`` with Netron's own message (a corrupt file, for example)
instead of hanging.

Needs: ``pip install netron playwright`` (never ``playwright install``: the system Chromium is
used) and ``apt-get install -y chromium fonts-wqy-microhei`` (the font draws the brackets
U+3008/U+3009 around tensor shapes). ``NETRON_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import html
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import onnx

from .config import REPO_ROOT, TutorialError, written_atomically
from .onnx_export import load_onnx, read_metadata, set_metadata

CHROMIUM_ENV = "NETRON_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Netron's SVG names no concrete font; Chromium on Linux measured the text with Arial's metrics
# (Liberation Sans / Arimo), so other renderers must use those too or text spills out of the boxes.
SVG_FONTS = "'Liberation Sans', Arimo, Arial, sans-serif"  # single quotes: it goes inside style="..."
# Show node attributes (e.g. Cast's "to", Conv's pads) and the initializers inside each node.
VIEW_OPTIONS = {"attributes": True, "weights": True, "names": False, "direction": "vertical"}
# The region notebook 03 shows before and after: the stem convolution, from the input to the next layer's DQ.
STEM_CONV = {"inputs": ["input"], "outputs": ["/layer1/0/conv1/DequantizeLinear_output_0"],
             "label": "stem convolution (input -> the DequantizeLinear in front of layer1.0.conv1)"}
# The figures mark each drawn node the surgery changed, with one colour per kind of change.
CHANGE_COLORS = {"removed": "#d62728", "rewritten": "#ff7f0e", "added": "#2ca02c"}
CHANGE_MEANING = {"removed": "removed by the surgery", "rewritten": "rewritten (other inputs or constants)",
                  "added": "added by the surgery"}
# Largest height (CSS pixels) of a before/after figure as displayed in a notebook.
MAX_DISPLAY_HEIGHT = 900


# Where tools/render_graphs.py stores the renders notebook 03 shows on machines without a browser.
COMMITTED_FIGURES = REPO_ROOT / "notebooks" / "figures" / "03_graph_surgery"
RENDER_INFO = "render_info.json"


class NetronRenderError(TutorialError):
    """A render that could not finish: no browser, Netron's error message, or a timeout."""


# ---------------------------------------------------------------------------------------------
# Is a browser here?
# ---------------------------------------------------------------------------------------------

def chromium_executable() -> str | None:
    """The Chromium to use: $NETRON_CHROMIUM when set (only that one), else /usr/bin/chromium or one on the PATH."""
    named = os.environ.get(CHROMIUM_ENV, "").strip()
    candidates = [named] if named else ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((path for path in candidates if path and os.path.isfile(path) and os.access(path, os.X_OK)), None)


def _has_bracket_font() -> bool | None:
    """Whether fontconfig knows a font with U+3008 (None when fc-list is not there to ask)."""
    if shutil.which("fc-list") is None:
        return None
    try:
        result = subprocess.run(["fc-list", ":charset=3008", "family"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None  # cannot ask; the render itself will show whether the brackets come out
    return bool(result.stdout.strip())


def browser_unavailable_reason() -> str | None:
    """Why renders cannot be made on this machine, or None when they can."""
    try:
        import netron  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"the Python package '{error.name}' is missing (pip install netron playwright)"
    if chromium_executable() is None:
        named = os.environ.get(CHROMIUM_ENV, "").strip()
        where = f"{CHROMIUM_ENV}={named} is not an executable file" if named else "no Chromium browser found"
        return (f"{where} (install it with `sudo apt-get install -y chromium fonts-wqy-microhei`, "
                f"or set {CHROMIUM_ENV} to a Chromium binary)")
    if _has_bracket_font() is False:
        return "no font with the bracket characters Netron draws around shapes (sudo apt-get install -y fonts-wqy-microhei)"
    return None


# ---------------------------------------------------------------------------------------------
# Rendering
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


def _render_in_this_thread(path: Path, fmt: str, timeout_s: float, options: dict) -> tuple[bytes, list[str], tuple]:
    """The render itself; returns (bytes, the requests it blocked, the server's address)."""
    import logging

    import netron
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not logging.getLogger().hasHandlers():  # netron.start would configure INFO logging ("Serving ...")
        logging.getLogger().addHandler(logging.NullHandler())
    deadline = time.monotonic() + timeout_s

    def remaining_ms() -> int:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NetronRenderError(f"Rendering {path} with Netron did not finish within {timeout_s:g} s.")
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
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=remaining_ms())
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
                context.route("**/*", only_local)
                # Netron waits for a cookie-consent answer unless this cookie exists.
                context.add_cookies([{"name": "consent", "value": str(int(time.time() * 1000)), "url": origin}])
                context.add_init_script(script=f"({INIT_SCRIPT})({json.dumps(options)})")
                page = context.new_page()
                page.goto(origin + "/", wait_until="domcontentloaded", timeout=remaining_ms())
                state = page.wait_for_function(STATE_SCRIPT, timeout=remaining_ms()).json_value()
                if state.startswith("failed:"):
                    raise NetronRenderError(f"Netron could not show {path}: {state[len('failed:'):].strip() or 'no message'}")
                data_url = page.evaluate(EXPORT_SCRIPT, [f"model.{fmt}", remaining_ms()])
            finally:
                browser.close()
    except PlaywrightError as error:
        message = str(error).strip()
        first_line = message.splitlines()[0] if message else type(error).__name__
        if "Timeout" in first_line or "timed out" in first_line:
            raise NetronRenderError(f"Rendering {path} with Netron did not finish within {timeout_s:g} s ({first_line}).") from error
        raise NetronRenderError(f"Rendering {path} with Netron failed: {first_line}") from error
    finally:
        netron.stop(address)
        while netron.status(address) and time.monotonic() < deadline + 2:  # the server thread ends within 0.25 s
            time.sleep(0.05)
    return base64.b64decode(data_url.split(",", 1)[1]), blocked, address


def render_onnx(path: Path, fmt: str = "svg", timeout_s: float = 60.0, options: dict | None = None) -> bytes:
    """Netron's own SVG or PNG export of an ONNX file, drawn by a headless Chromium.

    Raises ``NetronRenderError`` with the reason when no browser is available, when Netron cannot
    open the file (a corrupt ONNX file, for example), or when drawing takes longer than ``timeout_s``.
    Inside a running asyncio loop (a Jupyter kernel) the render runs in a worker thread, because
    Playwright's sync API refuses to run there.
    """
    path = Path(path)
    if fmt not in ("svg", "png"):
        raise TutorialError(f"fmt must be 'svg' or 'png', not {fmt!r}")
    if not path.is_file():
        raise TutorialError(f"{path} does not exist.")
    reason = browser_unavailable_reason()
    if reason:
        raise NetronRenderError(f"Cannot render {path.name}: {reason}.")
    options = {**VIEW_OPTIONS, **(options or {})}
    data, _, _ = _outside_event_loop(_render_in_this_thread, path, fmt, timeout_s, options)
    return data


def _outside_event_loop(function, *args):
    """Call ``function(*args)``; inside a running asyncio loop (a Jupyter kernel) in a worker thread, because
    Playwright's sync API refuses to run in one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


# ---------------------------------------------------------------------------------------------
# Regions, SVG for HTML, side by side
# ---------------------------------------------------------------------------------------------

def extract_region(model_path: Path, region_path: Path, region: dict = STEM_CONV) -> Path:
    """Write the part of a model between ``region["inputs"]`` and ``region["outputs"]`` as its own ONNX file.

    The region keeps the model's metadata, marked with what the region is (it is not a classifier).
    """
    model_path, region_path = Path(model_path), Path(region_path)
    tensors = {name for node in load_onnx(model_path).graph.node for name in node.output} | {"input"}
    missing = [name for name in region["inputs"] + region["outputs"] if name not in tensors]
    if missing:
        raise TutorialError(f"{model_path} has no tensor(s) {missing}; is it the ResNet18 of notebook 02?")
    onnx.utils.extract_model(str(model_path), str(region_path), region["inputs"], region["outputs"], check_model=True)
    extracted = onnx.load(str(region_path))
    metadata = read_metadata(model_path)
    metadata.update({
        "region": region["label"], "region_of": model_path.name,
        "output_name": ",".join(region["outputs"]), "output_meaning": "an inner activation (a region cut out for viewing)",
    })
    set_metadata(extracted, metadata)
    onnx.save(extracted, str(region_path))
    return region_path


def svg_for_html(svg: bytes | str) -> str:
    """Netron's SVG made to scale (a viewBox) and to keep text inside its boxes (concrete fonts)."""
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    match = re.search(r"<svg\b[^>]*>", text)
    if match is None:
        raise TutorialError("This is not an SVG document (no <svg> element).")
    root = match.group(0)
    width = re.search(r'\bwidth="([\d.]+)', root)
    height = re.search(r'\bheight="([\d.]+)', root)
    new_root = root
    if "viewBox" not in root and width and height:
        new_root = new_root[:-1] + f' viewBox="0 0 {width.group(1)} {height.group(1)}">'
    text = text.replace(root, new_root, 1)
    return re.sub(r"font-family:\s*([^;\"]+)", lambda m: f"font-family: {SVG_FONTS}, {m.group(1)}"
                  if not m.group(1).startswith(SVG_FONTS) else m.group(0), text)


def node_changes(before_path: Path, after_path: Path) -> dict[str, dict[str, str]]:
    """Which nodes a graph edit removed, added or rewrote, by node name: {"before": {...}, "after": {...}}.

    "rewritten" means the node is in both graphs but reads other tensors or other constant values (a new zero
    point, a float bias, a Q read directly instead of through a Cast). Constants are compared by value, and
    ``Constant`` nodes themselves are left out (Netron draws their values inside the nodes that read them).
    """
    from .onnx_inspect import constant_value

    models = {side: load_onnx(Path(path)) for side, path in (("before", before_path), ("after", after_path))}

    def inputs_of(model) -> dict[str, tuple]:
        described = {}
        for node in model.graph.node:
            if node.op_type == "Constant":  # not drawn by Netron; its value is compared where it is read
                continue
            parts = []
            for name in node.input:
                value = constant_value(model, name) if name else None
                parts.append(("tensor", name) if value is None else (str(value.dtype), value.shape, value.tobytes()))
            described[node.name] = tuple(parts)
        return described

    before, after = inputs_of(models["before"]), inputs_of(models["after"])
    changes = {"before": {}, "after": {}}
    for name in before:
        if name not in after:
            changes["before"][name] = "removed"
        elif before[name] != after[name]:
            changes["before"][name] = changes["after"][name] = "rewritten"
    changes["after"].update({name: "added" for name in after if name not in before})
    return changes


def highlight_nodes(svg: bytes | str, kinds: dict[str, str]) -> str:
    """The Netron SVG with each named node outlined in its change colour (``CHANGE_COLORS``)."""
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    rules = [f'g[id="node-name-{html.escape(name, quote=True)}"] path {{ stroke: {CHANGE_COLORS[kind]} !important; '
             f'stroke-width: 4px !important; }}' for name, kind in sorted(kinds.items())]
    if not rules:
        return text
    root = re.search(r"<svg\b[^>]*>", text)
    if root is None:
        raise TutorialError("This is not an SVG document (no <svg> element).")
    return text[:root.end()] + "<style>" + " ".join(rules) + "</style>" + text[root.end():]


def svg_to_png(svg: bytes | str, path: Path, scale: float = 1.5, timeout_s: float = 60.0) -> Path:
    """Draw the SVG in the same headless Chromium that laid it out and save it as PNG (``scale`` x its size).

    A PNG looks the same everywhere; an SVG shown in another browser uses that browser's fonts, and a label
    measured with one font can spill out of its box in another.
    """
    reason = browser_unavailable_reason()
    if reason:
        raise NetronRenderError(f"Cannot draw the SVG: {reason}.")
    text = svg_for_html(svg)

    def draw() -> bytes:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=int(timeout_s * 1000))
            try:
                page = browser.new_page(device_scale_factor=scale, viewport={"width": 1600, "height": 1200})
                page.route("**/*", lambda route: route.abort())
                page.set_content(f'<html><body style="margin:0;background:#fff">{text}</body></html>',
                                 timeout=int(timeout_s * 1000))
                return page.locator("svg").first.screenshot(timeout=int(timeout_s * 1000))
            finally:
                browser.close()

    data = _outside_event_loop(draw)
    path = Path(path)
    with written_atomically(path) as partial:
        partial.write_bytes(data)
    return path


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels of a PNG file, read from its header."""
    header = Path(path).read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise TutorialError(f"{path} is not a PNG file.")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def displayed_height(pngs: list[Path], scale: float = 1.5) -> float:
    """The height (CSS pixels) at which ``before_after_html`` shows these PNGs side by side."""
    natural = max(png_size(path)[1] for path in pngs) / scale
    return min(natural, MAX_DISPLAY_HEIGHT)


def before_after_html(before_png: Path, after_png: Path, before_title: str, after_title: str,
                      kinds: dict[str, dict[str, str]] | None = None, scale: float = 1.5) -> str:
    """Two PNG renders side by side at the same zoom (at most ``MAX_DISPLAY_HEIGHT`` px tall), with a legend of
    the highlighted changes and how many nodes each kind has on each side."""
    height = displayed_height([before_png, after_png], scale)
    zoom = height / (max(png_size(path)[1] for path in (before_png, after_png)) / scale)
    cells = []
    for path, title in ((before_png, before_title), (after_png, after_title)):
        width, pixels_high = png_size(path)
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        cells.append(f'<td style="vertical-align:top;text-align:center;padding:0 12px"><b>{html.escape(title)}</b><br>'
                     f'<img src="data:image/png;base64,{data}" width="{width / scale * zoom:.0f}" '
                     f'height="{pixels_high / scale * zoom:.0f}" style="max-width:none" alt="{html.escape(title)}"></td>')
    legend = ""
    if kinds:
        counts = collections.Counter(kind for side in kinds.values() for kind in side.values())
        legend = "".join(
            f'<span style="display:inline-block;margin-right:18px"><span style="display:inline-block;width:14px;'
            f'height:14px;border:3px solid {CHANGE_COLORS[kind]};vertical-align:middle;margin-right:5px"></span>'
            f'{html.escape(CHANGE_MEANING[kind])}</span>' for kind in CHANGE_COLORS if counts[kind])
        legend = f'<div style="margin:4px 0 8px 0">{legend}</div>'
    return f'{legend}<table><tr>{"".join(cells)}</tr></table>'


def _render_regions(models: dict[str, Path], prefix: str, out_dir: Path, regions_dir: Path | None,
                    timeout_s: float, region: dict = STEM_CONV) -> dict[str, Path]:
    """Cut ``region`` out of two models, render both, outline what changed from the first to the second.

    Writes ``<prefix>_<name>.svg`` (Netron's drawing) and ``<prefix>_<name>.png`` (the same with the changed nodes
    outlined) for each model; returns {"<name>": SVG path, "<name>_png": PNG path, ..., "changes": JSON path}.
    """
    regions_dir = Path(regions_dir or out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    regions_dir.mkdir(parents=True, exist_ok=True)
    regions = {name: extract_region(model_path, regions_dir / f"{prefix}_{name}.onnx", region)
               for name, model_path in models.items()}
    (before_name, before), (after_name, after) = regions.items()
    changes = node_changes(before, after)
    written = {}
    for name, side in ((before_name, "before"), (after_name, "after")):
        svg = svg_for_html(render_onnx(regions[name], "svg", timeout_s))
        written[name] = _write(out_dir / f"{prefix}_{name}.svg", svg)
        written[f"{name}_png"] = svg_to_png(highlight_nodes(svg, changes[side]), out_dir / f"{prefix}_{name}.png",
                                            timeout_s=timeout_s)
    written["changes"] = _write(out_dir / f"{prefix}_changes.json", json.dumps(changes, indent=1, sort_keys=True))
    return written


def render_before_after(raw_path: Path, fixed_path: Path, out_dir: Path, whole_graphs: bool = True,
                        regions_dir: Path | None = None, timeout_s: float = 60.0) -> dict[str, Path]:
    """Render the stem convolution of both graphs, and the whole fixed graph, into ``out_dir``.

    Returns {name: path}: ``region_raw``/``region_fixed`` (SVG), ``region_raw_png``/``region_fixed_png`` (PNG with
    the changed nodes outlined), ``region_changes`` (JSON: node name -> kind of change) and, with ``whole_graphs``,
    ``whole_fixed`` (SVG). The region ONNX files go to ``regions_dir`` (default: ``out_dir``).
    """
    out_dir = Path(out_dir)
    found = _render_regions({"raw": raw_path, "fixed": fixed_path}, "stem_conv", out_dir, regions_dir, timeout_s)
    written = {f"region_{name}": path for name, path in found.items()}
    if whole_graphs:
        written["whole_fixed"] = _write(out_dir / "whole_graph_fixed.svg", svg_for_html(render_onnx(fixed_path, "svg", timeout_s)))
    return written


def read_changes(path: Path) -> dict[str, dict[str, str]]:
    """The node changes a render recorded (``node_changes``'s result, saved next to the PNGs)."""
    return json.loads(Path(path).read_text())


def link_from_notebooks(path: Path, notebook_dir: Path | None = None) -> str:
    """A link to ``path`` that works in Jupyter started in ``notebooks/`` (it serves nothing above its folder).

    Files under ``notebooks/`` are linked where they are; anything else is copied to ``notebooks/renders/``
    (ignored by git) first.
    """
    notebook_dir = Path(notebook_dir or REPO_ROOT / "notebooks").resolve()
    path = Path(path).resolve()
    if notebook_dir not in path.parents:
        copy = notebook_dir / "renders" / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        path = copy
    return path.relative_to(notebook_dir).as_posix()


def committed_figures(folder: Path = None) -> dict:
    """The renders ``tools/render_graphs.py`` stored in the repository, and what they were made from.

    Returns {"region_raw": path, "region_fixed": path, "whole_fixed": path, "info": dict}.
    """
    folder = Path(folder or COMMITTED_FIGURES)
    info_path = folder / RENDER_INFO
    if not info_path.is_file():
        raise TutorialError(f"No committed renders in {folder}; run `python tools/render_graphs.py` on a machine with Chromium.")
    info = json.loads(info_path.read_text())
    return {**{key: folder / name for name, key in info["figures"].items()}, "info": info}


def interactive_view(path: Path, height: int = 700):
    """Netron's live app for ``path`` inside Jupyter (an IFrame), served on 127.0.0.1 only.

    Works when the browser showing the notebook runs on the same machine as the kernel. Returns
    (IFrame, address); stop the server with ``netron.stop(address)``.
    """
    import netron

    address = netron.start(str(path), address=("127.0.0.1", 0), browse=False)
    return netron.widget(address, height=height), address


def _write(path: Path, text: str) -> Path:
    with written_atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Checking a render (notebook 03 and the tests use these)
# ---------------------------------------------------------------------------------------------

def _svg_root(svg: bytes | str):
    import xml.etree.ElementTree as ElementTree

    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise TutorialError(f"The SVG is not well-formed XML: {error}") from error


def svg_texts(svg: bytes | str) -> list[str]:
    """The visible text of every <text> element of a Netron SVG (tooltips left out), in order."""
    namespace = "{http://www.w3.org/2000/svg}"
    lines = []
    for element in _svg_root(svg).iter(f"{namespace}text"):
        parts = [element.text or ""]
        for child in element:
            if child.tag != f"{namespace}title":
                parts.append("".join(child.itertext()))
            parts.append(child.tail or "")
        lines.append("".join(parts).strip())
    return lines


def drawn_node_types(svg: bytes | str) -> dict[str, int]:
    """How many nodes of each op type a Netron SVG draws (from each node's header)."""
    namespace = "{http://www.w3.org/2000/svg}"
    counts = collections.Counter()
    for group in _svg_root(svg).iter(f"{namespace}g"):
        if "node-item-type" in group.get("class", "").split():
            header = group.find(f"{namespace}text")
            if header is not None and header.text:
                counts[header.text.strip()] += 1
    return dict(sorted(counts.items()))


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


def text_outside_boxes(svg: bytes | str, timeout_s: float = 30.0) -> list[str]:
    """Texts that spill out of their node's box when Chromium draws the SVG as ``svg_for_html`` makes it.

    Needs the browser; no network is used (the SVG is the whole page).
    """
    reason = browser_unavailable_reason()
    if reason:
        raise NetronRenderError(f"Cannot check the SVG: {reason}.")

    def check() -> list[str]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True,
                                                 args=CHROMIUM_ARGS, timeout=int(timeout_s * 1000))
            try:
                page = browser.new_page()
                page.route("**/*", lambda route: route.abort())
                page.set_content(svg_for_html(svg), timeout=int(timeout_s * 1000))
                return page.evaluate(TEXT_FIT_SCRIPT)
            finally:
                browser.close()

    return _outside_event_loop(check)


# ---------------------------------------------------------------------------------------------
# Notebook 05: one residual block, before and after the fused-residual placement
# ---------------------------------------------------------------------------------------------

# layer2.0: a block with a downsample Conv on its shortcut, so both Add inputs come from Convs.
RESIDUAL_BLOCK = {"inputs": ["/layer1/1/Relu_output_0"], "outputs": ["/layer2/0/Relu_output_0"],
                  "label": "residual block layer2.0 (main branch and downsample shortcut)"}
COMMITTED_FIGURES_05 = REPO_ROOT / "notebooks" / "figures" / "05_qdq_placement"


def render_residual_block(unoptimized_path: Path, fused_path: Path, out_dir: Path, regions_dir: Path | None = None,
                          timeout_s: float = 60.0) -> dict[str, Path]:
    """Render residual block layer2.0 of both graphs (notebook 05): {"block_unoptimized", "block_fused"} (SVG),
    ``block_unoptimized_png``/``block_fused_png`` (changed nodes outlined) and ``block_changes`` (JSON)."""
    found = _render_regions({"unoptimized": unoptimized_path, "fused": fused_path}, "residual_block", Path(out_dir),
                            regions_dir, timeout_s, RESIDUAL_BLOCK)
    return {f"block_{name}": path for name, path in found.items()}
