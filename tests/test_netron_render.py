"""helpers.netron_render: real Netron renders in a headless Chromium (skipped, with the reason, without a browser)."""

import asyncio
import json
import time

import netron
import onnx
import pytest

from helpers.config import TutorialError
from helpers.netron_render import (
    COMMITTED_FIGURES,
    MAX_DISPLAY_HEIGHT,
    NetronRenderError,
    committed_figures,
    _render_in_this_thread,
    browser_unavailable_reason,
    drawn_node_types,
    extract_region,
    render_before_after,
    render_onnx,
    before_after_html,
    displayed_height,
    highlight_nodes,
    link_from_notebooks,
    node_changes,
    png_size,
    svg_for_html,
    svg_texts,
    text_outside_boxes,
    VIEW_OPTIONS,
)
from helpers.onnx_export import read_metadata

REASON = browser_unavailable_reason()
needs_browser = pytest.mark.skipif(REASON is not None, reason=f"no headless Netron renders here: {REASON}")


@pytest.fixture(scope="module")
def regions(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("regions")
    return {name: extract_region(path, folder / f"region_{name}.onnx")
            for name, path in (("raw", resnet18_int8_raw_onnx), ("fixed", resnet18_int8_fixed_onnx))}


@pytest.fixture(scope="module")
def region_svgs(regions):
    if REASON is not None:
        pytest.skip(f"no headless Netron renders here: {REASON}")
    return {name: render_onnx(path, "svg") for name, path in regions.items()}


# --- without a browser -----------------------------------------------------------------------

def test_region_is_the_stem_convolution_and_keeps_the_metadata(regions, resnet18_int8_raw_onnx):
    model = onnx.load(str(regions["raw"]))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("Conv") == 1 and ops.count("Relu") == 1 and "Add" not in ops  # one Conv block, nothing else
    assert [output.name for output in model.graph.output] == ["/layer1/0/conv1/DequantizeLinear_output_0"]
    metadata = read_metadata(regions["raw"])
    assert metadata["region_of"] == resnet18_int8_raw_onnx.name and "stem convolution" in metadata["region"]
    assert metadata["normalization_mean"] == read_metadata(resnet18_int8_raw_onnx)["normalization_mean"]


def test_node_changes_finds_what_the_surgery_removed_and_rewrote(regions):
    changes = node_changes(regions["raw"], regions["fixed"])
    removed = {name for name, kind in changes["before"].items() if kind == "removed"}
    rewritten = {name for name, kind in changes["after"].items() if kind == "rewritten"}
    assert {"/conv1/Cast", "/layer1/0/conv1/Cast", "/conv1/ConstantOfShape", "/conv1/DequantizeLinear_2"} <= removed
    # new zero points on every activation Q/DQ, the Conv's float bias, the DQs reading their Q directly
    assert {"/quant/QuantizeLinear", "/conv1/DequantizeLinear", "/conv1/Conv", "/conv1/QuantizeLinear",
            "/layer1/0/conv1/DequantizeLinear"} <= rewritten
    assert "/conv1/Relu" not in changes["after"] and "/conv1/DequantizeLinear_1" not in changes["after"]  # untouched
    assert node_changes(regions["fixed"], regions["fixed"]) == {"before": {}, "after": {}}


def test_highlight_outlines_exactly_the_named_nodes():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><g id="node-name-/a/Cast"><path/></g>'
           '<g id="node-name-/b/Conv"><path/></g></svg>')
    marked = highlight_nodes(svg, {"/a/Cast": "removed"})
    assert 'g[id="node-name-/a/Cast"] path { stroke: #d62728' in marked and "/b/Conv\"] path" not in marked
    assert highlight_nodes(svg, {}) == svg


def test_links_work_from_the_notebooks_folder(tmp_path):
    outside = tmp_path / "renders_03" / "whole.svg"
    outside.parent.mkdir()
    outside.write_text("<svg/>")
    notebooks = tmp_path / "notebooks"
    link = link_from_notebooks(outside, notebooks)
    assert link == "renders/renders_03/whole.svg" and (notebooks / link).read_text() == "<svg/>"
    inside = notebooks / "figures" / "x.svg"
    inside.parent.mkdir(parents=True)
    inside.write_text("<svg/>")
    assert link_from_notebooks(inside, notebooks) == "figures/x.svg"


def test_extract_region_names_missing_tensors(resnet18_int8_raw_onnx, tmp_path):
    with pytest.raises(TutorialError, match="no tensor"):
        extract_region(resnet18_int8_raw_onnx, tmp_path / "x.onnx", {"inputs": ["input"], "outputs": ["nope"], "label": "x"})


def test_svg_for_html_adds_a_viewbox_and_concrete_fonts():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><text style="font-family: sans-serif; font-size: 11px;">a</text></svg>'
    fixed = svg_for_html(svg)
    assert 'viewBox="0 0 20 10"' in fixed
    assert "font-family: 'Liberation Sans', Arimo, Arial, sans-serif, sans-serif;" in fixed
    assert svg_for_html(fixed) == fixed  # applying it twice changes nothing
    assert svg_texts(fixed) == ["a"]


def test_no_browser_gives_the_reason_and_the_install_command(monkeypatch, regions, tmp_path):
    monkeypatch.setenv("NETRON_CHROMIUM", str(tmp_path / "no-such-chromium"))
    reason = browser_unavailable_reason()
    assert "is not an executable file" in reason and "apt-get install -y chromium fonts-wqy-microhei" in reason
    with pytest.raises(NetronRenderError, match="no-such-chromium"):
        render_onnx(regions["raw"])


def test_the_committed_renders_show_the_change_and_say_where_they_came_from():
    figures = committed_figures()
    info = figures["info"]
    assert info["made_by"] == "python tools/render_graphs.py" and info["profile"] in ("quick", "full")
    assert info["models"]["fixed"]["precision"] == "int8-qdq-tensorrt" and len(info["models"]["raw"]["sha256"]) == 64
    before, after = (figures[key].read_text(encoding="utf-8") for key in ("region_raw", "region_fixed"))
    assert drawn_node_types(before)["Cast"] == 3 and "Cast" not in drawn_node_types(after)
    assert "y_zero_point = 128" in svg_texts(before) and "y_zero_point = 0" in svg_texts(after)
    assert drawn_node_types(figures["whole_fixed"].read_text(encoding="utf-8"))["Conv"] == 20
    assert all(path.parent == COMMITTED_FIGURES for key, path in figures.items() if key != "info")
    # the PNGs shown in the notebook: legible (shown at full size) and no taller than the display limit
    assert displayed_height([figures["region_raw_png"], figures["region_fixed_png"]]) <= MAX_DISPLAY_HEIGHT
    assert min(png_size(figures["region_fixed_png"])) > 300
    changes = json.loads(figures["region_changes"].read_text())
    assert "removed" in changes["before"].values() and "rewritten" in changes["after"].values()


# --- with the browser --------------------------------------------------------------------------

@needs_browser
def test_renders_show_casts_and_zero_point_128_before_and_neither_after(region_svgs):
    before, after = drawn_node_types(region_svgs["raw"]), drawn_node_types(region_svgs["fixed"])
    assert before["Cast"] == 3 and "Cast" not in after  # two after QuantizeLinear, one in the bias zero point
    assert before["ConstantOfShape"] == 1 and "ConstantOfShape" not in after
    assert after["Conv"] == before["Conv"] == 1
    texts_before, texts_after = svg_texts(region_svgs["raw"]), svg_texts(region_svgs["fixed"])
    assert "y_zero_point = 128" in texts_before and "to = uint8" in texts_before
    assert "y_zero_point = 0" in texts_after and "x_zero_point = 0" in texts_after
    assert not any(text.endswith("zero_point = 128") for text in texts_after)


@needs_browser
def test_text_stays_inside_the_boxes_and_the_check_can_fail(region_svgs):
    for svg in region_svgs.values():
        assert text_outside_boxes(svg) == []
    enlarged = region_svgs["raw"].decode().replace("font-size: 11px", "font-size: 30px")
    assert text_outside_boxes(enlarged)  # the same check sees text that spills out


@needs_browser
def test_render_stays_local_and_stops_its_server(regions):
    data, blocked, address = _render_in_this_thread(regions["fixed"], "png", 60.0, VIEW_OPTIONS)
    assert data.startswith(b"\x89PNG")
    assert address[0] == "127.0.0.1"
    assert all(not url.startswith(f"http://127.0.0.1:{address[1]}") for url in blocked)
    assert not netron.status(address)


@needs_browser
def test_a_corrupt_onnx_file_gives_netrons_message(regions, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(regions["raw"].read_bytes()[:300])
    started = time.monotonic()
    with pytest.raises(NetronRenderError, match="Netron could not show") as error:
        render_onnx(broken, timeout_s=30)
    assert "did not finish" not in str(error.value)  # Netron's own message, not the timeout's
    print(f"Netron's message came after {time.monotonic() - started:.1f} s")  # a figure to read, not a test of speed


@needs_browser
def test_a_render_that_cannot_finish_in_time_raises(resnet18_int8_raw_onnx):
    started = time.monotonic()
    with pytest.raises(NetronRenderError, match="did not finish within 0.3 s"):
        render_onnx(resnet18_int8_raw_onnx, timeout_s=0.3)
    print(f"gave up after {time.monotonic() - started:.1f} s")  # a figure to read, not a test of speed


@needs_browser
def test_renders_inside_a_running_event_loop_like_jupyter(regions):
    async def in_loop():
        return render_onnx(regions["fixed"], "svg")

    assert drawn_node_types(asyncio.run(in_loop()))["Conv"] == 1


@needs_browser
def test_render_before_after_writes_the_notebook_figures(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, tmp_path, region_svgs):
    written = render_before_after(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, tmp_path, whole_graphs=True)
    assert set(written) == {"region_raw", "region_fixed", "region_raw_png", "region_fixed_png", "region_changes", "whole_fixed"}
    whole = written["whole_fixed"].read_text()
    assert drawn_node_types(whole)["Conv"] == 20 and "viewBox" in whole
    assert written["region_raw_png"].read_bytes().startswith(b"\x89PNG")
    changes = json.loads(written["region_changes"].read_text())
    html = before_after_html(written["region_raw_png"], written["region_fixed_png"], "before", "after", changes)
    assert html.count("data:image/png;base64,") == 2 and "<table>" in html
    assert "removed by the surgery" in html and "rewritten" in html and "added by" not in html  # legend: kinds present only
    assert displayed_height([written["region_raw_png"], written["region_fixed_png"]]) <= MAX_DISPLAY_HEIGHT