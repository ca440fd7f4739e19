"""tools/netron_render.py and tools/render_graphs.py: real Netron renders in a headless Chromium (the browser tests
skip, with the reason, where there is none), and the committed renders notebooks 03 and 05 fall back on."""

import json
import re

import netron
import onnx
import pytest
from PIL import Image

import render_graphs
from helpers.config import REPO_ROOT, TutorialError
from helpers.envcheck import browser_unavailable_reason
from helpers.onnx_export import read_metadata
from netron_render import (
    CHANGE_COLORS,
    REGIONS,
    NetronRenderError,
    drawn_node_types,
    extract_region,
    headless_chromium,
    highlight_nodes,
    netron_export,
    node_changes,
    portable_svg,
    svg_texts,
    text_outside_boxes,
)

REASON = browser_unavailable_reason()
needs_browser = pytest.mark.skipif(REASON is not None, reason=f"no headless Netron renders here: {REASON}")
RENDER_INFO_KEYS = ["made_by", "git_commit", "profile", "rendered_at", "netron", "chromium", "models", "files", "region",
                    "legend", "outlined", "drawn_node_types", "drawn_texts", "text_outside_boxes", "whole_after"]


@pytest.fixture(scope="module")
def regions(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("regions")
    return {name: extract_region(path, folder / f"region_{name}.onnx", REGIONS["stem-conv"])
            for name, path in (("raw", resnet18_int8_raw_onnx), ("fixed", resnet18_int8_fixed_onnx))}


def run_tool(arguments: list[str], artifacts) -> dict:
    """Run the command line in this process (artifacts folders made in ``artifacts``); return its render_info.json."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUTORIAL_ARTIFACTS", str(artifacts))
        assert render_graphs.main([str(argument) for argument in arguments]) == 0
    out = arguments[arguments.index("--out") + 1]
    return json.loads((out / "render_info.json").read_text())


@pytest.fixture(scope="module")
def stem_render(resnet18_int8_raw_onnx, resnet18_int8_fixed_onnx, tmp_path_factory):
    """Notebook 03's call: the stem convolution, raw export vs fixed graph, and the whole fixed graph."""
    if REASON is not None:
        pytest.skip(f"no headless Netron renders here: {REASON}")
    out = tmp_path_factory.mktemp("renders_03")
    info = run_tool(["--before", resnet18_int8_raw_onnx, "--after", resnet18_int8_fixed_onnx, "--region", "stem-conv",
                     "--out", out, "--whole-after"], tmp_path_factory.mktemp("artifacts"))
    return out, info


def colour_pixels(png, colour: str) -> int:
    """How many pixels of a PNG have exactly this colour (#rrggbb)."""
    wanted = tuple(int(colour[index:index + 2], 16) for index in (1, 3, 5))
    return sum(count for count, rgb in Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24) if rgb == wanted)


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
    assert node_changes(regions["fixed"], regions["raw"])["after"]["/conv1/Cast"] == "added"  # the edit undone


def test_residual_block_region_and_what_the_fused_placement_changes(resnet18_int8_fixed_onnx, resnet18_int8_fused, tmp_path):
    block = {side: extract_region(path, tmp_path / f"{side}.onnx", REGIONS["residual-block"])
             for side, path in (("before", resnet18_int8_fixed_onnx), ("after", resnet18_int8_fused.path))}
    ops = [node.op_type for node in onnx.load(str(block["before"])).graph.node]
    assert ops.count("Conv") == 3 and ops.count("Add") == 1  # main branch (2) and downsample shortcut (1)
    assert node_changes(block["before"], block["after"]) == {
        "before": {"/layer2/0/conv2/QuantizeLinear": "removed", "/layer2/0/DequantizeLinear": "removed",
                   "/layer2/0/Add": "rewritten"},
        "after": {"/layer2/0/Add": "rewritten"}}


def test_highlight_outlines_exactly_the_named_nodes():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><g id="node-name-/a/Cast"><path/></g>'
           '<g id="node-name-/b/Conv"><path/></g></svg>')
    marked = highlight_nodes(svg, {"/a/Cast": "removed"})
    assert 'g[id="node-name-/a/Cast"] path { stroke: #d62728' in marked and "/b/Conv\"] path" not in marked
    assert highlight_nodes(svg, {}) == svg
    with pytest.raises(TutorialError, match="not an SVG"):
        highlight_nodes("<html/>", {"/a/Cast": "added"})


def test_extract_region_names_missing_tensors(resnet18_int8_raw_onnx, tmp_path):
    with pytest.raises(TutorialError, match="no tensor"):
        extract_region(resnet18_int8_raw_onnx, tmp_path / "x.onnx", {"inputs": ["input"], "outputs": ["nope"], "label": "x"})


def test_portable_svg_adds_a_viewbox_and_concrete_fonts():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><text style="font-family: sans-serif; font-size: 11px;">a</text></svg>'
    fixed = portable_svg(svg)
    assert 'viewBox="0 0 20 10"' in fixed
    assert "font-family: 'Liberation Sans', Arimo, Arial, sans-serif, sans-serif;" in fixed
    assert portable_svg(fixed) == fixed  # applying it twice changes nothing
    assert svg_texts(fixed) == ["a"]


def test_no_browser_gives_the_reason_and_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NETRON_CHROMIUM", str(tmp_path / "no-such-chromium"))
    reason = browser_unavailable_reason()
    assert "is not an executable file" in reason and "apt-get install -y chromium fonts-wqy-microhei" in reason
    with pytest.raises(NetronRenderError, match="no-such-chromium"):
        with headless_chromium():
            pass
    assert render_graphs.main(["--committed", "03"]) == 2
    assert "no-such-chromium" in capsys.readouterr().err


def test_the_command_line_wants_either_the_four_arguments_or_committed(tmp_path):
    for arguments in (["--before", "a.onnx", "--after", "b.onnx", "--region", "stem-conv"],  # no --out
                      ["--committed", "03", "--out", str(tmp_path)],
                      ["--before", "a.onnx", "--after", "b.onnx", "--region", "whole", "--out", str(tmp_path)]):
        with pytest.raises(SystemExit) as stopped:
            render_graphs.main(arguments)
        assert stopped.value.code == 2


@pytest.mark.parametrize("notebook", ["03", "05"])
def test_the_committed_renders_say_where_they_came_from_and_match_their_svgs(notebook):
    folder = render_graphs.COMMITTED_FIGURES[notebook]
    info = json.loads((folder / "render_info.json").read_text())
    assert list(info) == RENDER_INFO_KEYS
    assert info["made_by"] == f"python tools/render_graphs.py --committed {notebook}" and info["profile"] in ("quick", "full")
    assert all(len(model["sha256"]) == 64 for model in info["models"].values())
    for name in info["files"]:
        assert (folder / name).stat().st_size > 0
    for side in ("before", "after"):  # what render_info.json says is what the SVGs hold
        svg = (folder / f"{side}.svg").read_text(encoding="utf-8")
        assert info["drawn_node_types"][side] == drawn_node_types(svg)
        assert info["drawn_texts"][side] == sorted(set(svg_texts(svg)) - {""})
        assert info["text_outside_boxes"][side] == []
        width, height = Image.open(folder / f"{side}.png").size
        assert min(width, height) > 300  # legible when shown at full size
        for name, kind in info["outlined"][side].items():
            assert f'g[id="node-name-{name}"] path {{ stroke: {CHANGE_COLORS[kind]}' not in svg  # outlines: PNG only
    assert str(REPO_ROOT) not in json.dumps(info) and "/tmp/" not in json.dumps(info)


def test_the_committed_renders_show_the_surgery_and_the_fused_residual():
    surgery = json.loads((render_graphs.COMMITTED_FIGURES["03"] / "render_info.json").read_text())
    assert surgery["models"]["after"]["precision"] == "int8-qdq-tensorrt" and surgery["region"]["name"] == "stem-conv"
    drawn = surgery["drawn_node_types"]
    assert drawn["before"]["Cast"] == 3 and "Cast" not in drawn["after"]
    assert "y_zero_point = 128" in surgery["drawn_texts"]["before"] and "y_zero_point = 0" in surgery["drawn_texts"]["after"]
    assert surgery["whole_after"]["drawn_node_types"]["Conv"] == 20
    assert "removed" in surgery["outlined"]["before"].values() and "rewritten" in surgery["outlined"]["after"].values()
    fused = json.loads((render_graphs.COMMITTED_FIGURES["05"] / "render_info.json").read_text())
    drawn = fused["drawn_node_types"]
    assert drawn["before"]["QuantizeLinear"] - drawn["after"]["QuantizeLinear"] == 1
    assert drawn["before"]["Conv"] == drawn["after"]["Conv"] == 3 and drawn["after"]["Add"] == 1
    assert sorted(fused["outlined"]["before"].values()) == ["removed", "removed", "rewritten"] and fused["whole_after"] is None


# --- with the browser --------------------------------------------------------------------------

@needs_browser
def test_the_tool_writes_the_figures_and_render_info(stem_render, resnet18_int8_fixed_onnx):
    out, info = stem_render
    assert list(info) == RENDER_INFO_KEYS
    assert sorted(path.name for path in out.iterdir()) == sorted(info["files"] + ["render_info.json"])
    assert info["made_by"] == ("python tools/render_graphs.py --before .../resnet18_int8_raw.onnx --after "
                               ".../resnet18_int8_trt.onnx --region stem-conv --out .../" + out.name + " --whole-after")
    assert info["profile"] is None  # the models are not in a profile's artifacts folder
    assert info["models"]["after"] == {"file": resnet18_int8_fixed_onnx.name, "sha256": info["models"]["after"]["sha256"],
                                       "precision": "int8-qdq-tensorrt", "produced_by": "03_graph_surgery"}
    assert info["netron"] == netron.__version__ and re.fullmatch(r"Chromium \d+(\.\d+)+", info["chromium"])
    assert info["legend"] == {"#d62728": "removed", "#ff7f0e": "rewritten (reads other inputs or constants)"}
    assert str(out) not in json.dumps(info) and str(resnet18_int8_fixed_onnx.parent) not in json.dumps(info)


@needs_browser
def test_renders_show_casts_and_zero_point_128_before_and_neither_after(stem_render):
    out, info = stem_render
    before, after = (drawn_node_types((out / f"{side}.svg").read_text()) for side in ("before", "after"))
    assert info["drawn_node_types"] == {"before": before, "after": after}
    assert before["Cast"] == 3 and "Cast" not in after  # two after QuantizeLinear, one in the bias zero point
    assert before["ConstantOfShape"] == 1 and "ConstantOfShape" not in after
    assert after["Conv"] == before["Conv"] == 1
    texts_before, texts_after = info["drawn_texts"]["before"], info["drawn_texts"]["after"]
    assert "y_zero_point = 128" in texts_before and "to = uint8" in texts_before
    assert "y_zero_point = 0" in texts_after and "x_zero_point = 0" in texts_after
    assert not any(text.endswith("zero_point = 128") for text in texts_after)
    whole = (out / "after_whole.svg").read_text()
    assert info["whole_after"] == {"file": "after_whole.svg", "drawn_node_types": drawn_node_types(whole)}
    assert drawn_node_types(whole)["Conv"] == 20 and "viewBox" in whole


@needs_browser
def test_the_pngs_outline_the_changed_nodes_in_their_colours(stem_render):
    out, info = stem_render
    assert set(info["outlined"]["before"].values()) == {"removed", "rewritten"}
    assert set(info["outlined"]["after"].values()) == {"rewritten"}
    assert colour_pixels(out / "before.png", CHANGE_COLORS["removed"]) > 1000
    assert colour_pixels(out / "before.png", CHANGE_COLORS["rewritten"]) > 1000
    assert colour_pixels(out / "after.png", CHANGE_COLORS["rewritten"]) > 1000
    assert colour_pixels(out / "after.png", CHANGE_COLORS["removed"]) == 0
    assert colour_pixels(out / "after.png", CHANGE_COLORS["added"]) == 0


@needs_browser
def test_text_stays_inside_the_boxes_and_the_check_can_fail(stem_render):
    out, info = stem_render
    assert info["text_outside_boxes"] == {"before": [], "after": []}
    enlarged = (out / "before.svg").read_text().replace("font-size: 11px", "font-size: 30px")
    with headless_chromium() as browser:
        assert text_outside_boxes(browser, enlarged)  # the same check sees text that spills out


@needs_browser
def test_the_residual_block_render_of_notebook_05(resnet18_int8_fixed_onnx, resnet18_int8_fused, tmp_path):
    info = run_tool(["--before", resnet18_int8_fixed_onnx, "--after", resnet18_int8_fused.path,
                     "--region", "residual-block", "--out", tmp_path / "out"], tmp_path / "artifacts")
    before, after = info["drawn_node_types"]["before"], info["drawn_node_types"]["after"]
    assert before["QuantizeLinear"] - after["QuantizeLinear"] == 1
    assert before["DequantizeLinear"] - after["DequantizeLinear"] == 1
    assert before["Conv"] == after["Conv"] == 3 and after["Add"] == 1
    assert sorted(info["outlined"]["before"].values()) == ["removed", "removed", "rewritten"]  # the Q/DQ pair; the Add
    assert info["whole_after"] is None and not (tmp_path / "out" / "after_whole.svg").exists()
    assert info["text_outside_boxes"] == {"before": [], "after": []}


@needs_browser
def test_render_stays_local_and_stops_its_server(regions):
    with headless_chromium() as browser:
        export = netron_export(browser, regions["fixed"], "png")
    assert export.data.startswith(b"\x89PNG")
    assert export.server_address[0] == "127.0.0.1"
    assert all(not url.startswith(f"http://127.0.0.1:{export.server_address[1]}") for url in export.blocked_urls)
    assert not netron.status(export.server_address)


@needs_browser
def test_a_corrupt_onnx_file_gives_netrons_message(regions, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(regions["raw"].read_bytes()[:300])
    with headless_chromium() as browser, pytest.raises(NetronRenderError, match="Netron could not show") as error:
        netron_export(browser, broken, timeout_s=30)
    assert "did not finish" not in str(error.value)  # Netron's own message, not the timeout's


@needs_browser
def test_a_render_that_cannot_finish_in_time_raises(resnet18_int8_raw_onnx):
    with headless_chromium() as browser, pytest.raises(NetronRenderError, match="did not finish within 0.3 s"):
        netron_export(browser, resnet18_int8_raw_onnx, timeout_s=0.3)


@needs_browser
def test_an_unreadable_model_stops_the_tool_with_the_reason(regions, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TUTORIAL_ARTIFACTS", str(tmp_path / "artifacts"))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(regions["raw"].read_bytes()[:300])
    assert render_graphs.main(["--before", str(broken), "--after", str(regions["fixed"]), "--region", "stem-conv",
                               "--out", str(tmp_path / "out")]) == 1
    assert "broken.onnx is not a readable ONNX model" in capsys.readouterr().err and not (tmp_path / "out" / "render_info.json").exists()
