"""The report's charts as Vega-Lite specs, rendered to SVG offline with vl-convert, and the
offline HTML page template that `dvc plots show` / `dvc plots diff` fill.

Why Vega-Lite: DVC's plots are Vega-Lite too, so one library serves the report and `dvc plots`;
vl-convert renders a spec to SVG with no browser and no network, and bundles the Vega, Vega-Lite
and Vega-Embed scripts into one string that a page can inline (DVC's own page loads them from a
CDN, and shows nothing offline).

The spec builders take plain rows (what the report collected) and are pure, so a test can read
them; `svg` is the one place that imports vl-convert.
"""

from __future__ import annotations

from pathlib import Path

WIDTH, HEIGHT = 460, 240
# DVC's plot templates declare Vega-Lite v5; the offline page bundles the same major version so
# that vega-embed compiles them without a version warning.
DVC_VEGA_LITE = "5.21"
OFFLINE_TEMPLATE = Path(".dvc/offline_plots.html")  # .dvc/config: plots.html_template

# Colours: the score in blue, accuracy in grey; accepted samples green, each rejection reason
# a warm colour.
_SCORE, _ACCURACY = "#1f6fb2", "#9a9a9a"


def _base(title: str, subtitle: str | None = None) -> dict:
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": {"text": title, **({"subtitle": subtitle} if subtitle else {}), "anchor": "start"},
            "background": "white", "config": {"view": {"stroke": None}, "font": "sans-serif"}}


def score_chart(rows: list[dict], metric_label: str, ceiling: float | None) -> dict:
    """The headline score and accuracy per round (round 0 = the seed-set student), with the
    full-data ceiling as a dashed rule where known."""
    values = [{"round": r["round"], "series": metric_label, "value": r["score"]} for r in rows]
    values += [{"round": r["round"], "series": "accuracy", "value": r["accuracy"]} for r in rows
               if metric_label != "accuracy"]
    x = {"field": "round", "type": "ordinal", "title": "round (0 = seed examples only)",
         "axis": {"labelAngle": 0}}
    y = {"field": "value", "type": "quantitative", "title": "test score",
         "scale": {"domain": [0, 1]}}
    color = {"field": "series", "type": "nominal", "title": None,
             "scale": {"domain": [metric_label, "accuracy"], "range": [_SCORE, _ACCURACY]},
             "legend": {"orient": "bottom"}}
    layers = [
        {"mark": {"type": "line", "point": True}, "encoding": {"x": x, "y": y, "color": color}},
        {"transform": [{"filter": {"field": "series", "equal": metric_label}}],
         "mark": {"type": "text", "dy": -10, "fontSize": 11, "color": _SCORE},
         "encoding": {"x": x, "y": y, "text": {"field": "value", "format": ".3f"}}},
    ]
    if ceiling is not None:
        layers += [
            {"data": {"values": [{"ceiling": ceiling}]},
             "mark": {"type": "rule", "strokeDash": [6, 4], "color": "#444"},
             "encoding": {"y": {"field": "ceiling", "type": "quantitative"}}},
            {"data": {"values": [{"ceiling": ceiling, "text": f"full-data ceiling {ceiling:.3f}"}]},
             "mark": {"type": "text", "align": "left", "x": 4, "dy": -7, "color": "#444"},
             "encoding": {"y": {"field": "ceiling", "type": "quantitative"}, "text": {"field": "text"}}},
        ]
    return {**_base(f"Test {metric_label} per round",
                    "dashed: a student trained on the whole train split" if ceiling is not None else None),
            "width": WIDTH, "height": HEIGHT, "data": {"values": values}, "layer": layers}


def heatmap(values: list[dict], x: str, y: str, value: str, title: str, subtitle: str | None,
            x_title: str, y_title: str, domain: list[float] | None, fmt: str,
            categories: list[str] | None = None) -> dict:
    """Cells coloured by `value` with the value written in each; `x` and `y` nominal/ordinal,
    both over `categories` when given (so a label never predicted still has its column)."""
    order = {"scale": {"domain": categories}} if categories else {}
    x_enc = {"field": x, "type": "ordinal", "title": x_title, "axis": {"labelAngle": 0}, **order}
    y_enc = {"field": y, "type": "ordinal", "title": y_title, **order}
    scale = {"scheme": "blues", **({"domain": domain} if domain else {})}
    top = (domain[1] if domain else None)
    # Dark cells get white text: above 60 % of the scale (of the largest value when no domain).
    threshold = 0.6 * top if top is not None else None
    text_colour = ({"condition": {"test": f"datum['{value}'] > {threshold}", "value": "white"},
                    "value": "black"} if threshold is not None else
                   {"condition": {"test": f"datum['{value}'] > 0.6 * datum.max_value", "value": "white"},
                    "value": "black"})
    transform = [] if threshold is not None else [
        {"joinaggregate": [{"op": "max", "field": value, "as": "max_value"}]}]
    # Up to 12 columns the cells are wide enough for two decimals; more (TREC's 50 fine
    # classes) get narrow cells and small text, so the chart stays within a page's width.
    many = len(categories or {v[x] for v in values}) > 12
    return {**_base(title, subtitle), "data": {"values": values}, "transform": transform,
            "width": {"step": 20 if many else 44}, "height": {"step": 16 if many else 22},
            "encoding": {"x": x_enc, "y": y_enc},
            "layer": [
                {"mark": "rect", "encoding": {"color": {"field": value, "type": "quantitative",
                                                        "title": None, "scale": scale}}},
                {"mark": {"type": "text", "fontSize": 7 if many else 10},
                 "encoding": {"text": {"field": value, "format": fmt}, "color": text_colour}},
            ]}


def per_label_chart(rows: list[dict], label_word: str) -> dict:
    """Per-label (per-type) F1 over the rounds: label down, round across."""
    values = [{"round": r["round"], "label": lab, "f1": f1}
              for r in rows for lab, f1 in r["per_label_f1"].items()]
    return heatmap(values, "round", "label", "f1", f"Per-{label_word} F1 per round", None,
                   "round", label_word, [0, 1], ".2f")


def confusion_chart(cells: list[dict], round_: int, note: str | None, labels: list[str]) -> dict:
    """The last round's confusion matrix: actual down, predicted across, over every one of
    `labels`; counts in the cells, pairs that never occur left blank."""
    return heatmap(cells, "predicted", "actual", "count", f"Confusion matrix, round {round_} (test split)",
                   note, "predicted", "actual", None, "d", categories=labels)


def samples_chart(rows: list[dict]) -> dict:
    """Accepted and rejected samples per round, rejections split by reason (stacked bars)."""
    values = []
    for r in rows:
        values.append({"round": r["round"], "what": "accepted", "n": r["accepted"]})
        values += [{"round": r["round"], "what": f"rejected: {reason}", "n": n}
                   for reason, n in sorted(r["rejected_by_reason"].items())]
    reasons = sorted({v["what"] for v in values if v["what"] != "accepted"})
    warm = ["#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#bcbd22", "#9467bd", "#f4a582", "#b2182b"]
    colours = ["#2ca02c"] + [warm[i % len(warm)] for i in range(len(reasons))]
    return {**_base("Samples per round", "round 0: the seed examples"), "width": WIDTH, "height": HEIGHT,
            "data": {"values": values},
            "mark": "bar",
            "encoding": {
                "x": {"field": "round", "type": "ordinal", "axis": {"labelAngle": 0}},
                "y": {"field": "n", "type": "quantitative", "title": "samples", "stack": "zero"},
                "color": {"field": "what", "type": "nominal", "title": None,
                          "scale": {"domain": ["accepted", *reasons], "range": colours},
                          "legend": {"orient": "bottom"}},
                "order": {"field": "what"}}}


def spend_chart(rows: list[dict], metric_label: str, unit: str, subtitle: str) -> dict:
    """The score after each round against what the teacher had cost by then (`spent`, in
    `unit`), each point labelled with its round."""
    values = [{"round": f"round {r['round']}", "spent": r["spent"], "score": r["score"]} for r in rows]
    x = {"field": "spent", "type": "quantitative", "title": unit}
    y = {"field": "score", "type": "quantitative", "title": f"test {metric_label}",
         "scale": {"domain": [0, 1]}}
    return {**_base(f"Test {metric_label} against teacher spend", subtitle),
            "width": WIDTH, "height": HEIGHT, "data": {"values": values},
            "layer": [{"mark": {"type": "line", "point": True, "color": _SCORE},
                       "encoding": {"x": x, "y": y, "order": {"field": "spent"}}},
                      {"mark": {"type": "text", "align": "left", "dx": 6, "dy": -6, "fontSize": 10},
                       "encoding": {"x": x, "y": y, "text": {"field": "round"}}}]}


def svg(spec: dict) -> str:
    """The chart as a standalone SVG document (offline: vl-convert runs Vega in-process)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)


def offline_plots_template() -> str:
    """An HTML page template for `dvc plots show/diff` with the Vega, Vega-Lite and Vega-Embed
    scripts inlined. DVC fills `{plot_divs}` with one `vegaEmbed(...)` call per plot; the page
    has no `{scripts}` placeholder, so DVC's CDN script tags have nowhere to go."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=DVC_VEGA_LITE)
    if "{plot_divs}" in bundle or "</script" in bundle:
        raise RuntimeError("the vl-convert bundle contains '{plot_divs}' or '</script': it cannot be "
                           "inlined into DVC's page template as is")
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n{refresh_tag}\n"
            "<title>DVC plots (offline)</title>\n"
            "<!-- Made by `python scripts/plots_template.py` from vl-convert "
            f"{vl_convert.__version__}: Vega {vl_convert.get_vega_version()}, Vega-Lite "
            f"{DVC_VEGA_LITE}, Vega-Embed {vl_convert.get_vega_embed_version()}. DVC fills in the "
            "plots; the page leaves out DVC's placeholder for scripts on purpose (they load from a CDN). -->\n"
            f"<script type=\"text/javascript\">\n{bundle}\n</script>\n"
            "<style>body { font-family: sans-serif; } table { border-spacing: 15px; }</style>\n"
            "</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")
