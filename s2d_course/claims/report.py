"""The claims as people read them: a Markdown table for the README, a claim and the TMA
attention in words and numbers (notebooks 02-04), from ``results/claims.json``.

A gap whose 95 % interval holds 0 is reported as "not detectable at this power" with its
minimum detectable difference, never as "does not reproduce"; a gap over a control that did not
train is not reported as a comparison at all."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np

__all__ = ["claims_table", "write_readme_table", "describe_claim", "describe_attention",
           "verdict", "slope_verdict", "predictions_table", "claim_reading", "world_table",
           "longer_control_reading",
           "run_time", "readme_is_current", "PAPER_EFFECTS"]


#: What the paper reports for each claim's part (full-size model, real datasets), in words: our
#: miniature measures the direction and its dependence on the dose, not the paper's size.
PAPER_EFFECTS = {
    "landmark_view": "a gain from the landmark view in its static ablation",
    "temporal_attention": "a gain from the TMAs in its DFER ablation",
    "easdl": "a gain of about one point from EASDL",
    "static_pretraining": "a gain from static FER pretraining in its DFER ablation",
}


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}"


def verdict(d: dict, control_trains: bool = True) -> str:
    """A paired difference in words: better / worse, or not detectable at this power."""
    if not control_trains:
        return "no comparison: the control did not train"
    low, high = d["ci95"]
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return f"not detectable at this power (MDE {100 * d['mde']:.1f} points)"


def _ci(d: dict) -> str:
    """A 95 % interval in points: ``[-1.3, +6.9]``."""
    return f"[{_pct(d['ci95'][0])}, {_pct(d['ci95'][1])}]"


def _fmt_level(entry: dict, level: str) -> str:
    return f"{100 * float(level):g} %"


def claims_table(result: dict) -> str:
    """The claims as a Markdown table: per comparison and dose level, both arms' UAR (mean ± std
    over seeds, percent), the paired gap with its 95 % interval and MDE, whether the control
    trained, and the slope of the gap across the levels."""
    lines = ["| claim | dose | S2D arm − control | level | S2D arm UAR % | control UAR % | "
             "gap [95 % CI] | MDE | control trains | slope per level [95 % CI] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in result["claims"].items():
        for comp_name, comp in entry["comparisons"].items():
            arm, control = comp_name.split(" - ", 1)
            s = comp.get("slope")
            slope = (f"{_pct(s['mean'])} {_ci(s)}"
                     if s else "—")
            for k, (level, d) in enumerate(comp["levels"].items()):
                a, c = entry["arms"][arm][level], entry["arms"][control][level]
                u = d["uar"]
                lines.append(
                    f"| {name} | {entry['dose']} | {comp_name} | {_fmt_level(entry, level)} | "
                    f"{100 * a['uar']['mean']:.1f} ± {100 * a['uar']['std']:.1f} | "
                    f"{100 * c['uar']['mean']:.1f} ± {100 * c['uar']['std']:.1f} | "
                    f"{_pct(u['mean'])} {_ci(u)} | "
                    f"{100 * u['mde']:.1f} | {'yes' if d['control_trains'] else 'no'} | "
                    f"{slope if k == 0 else ''} |")
    return "\n".join(lines) + "\n"


def world_table(result: dict) -> str:
    """The world's calibration as Markdown: baselines without any S2D part (logistic regression on
    pixels, exact or detected landmarks, both) on RAF-DB test and DFEW fold 1 (mean over frames),
    and the landmark network's NME with and without each nuisance."""
    cal = result["world"]["calibration"]
    rows = [("pixels, grey 32 x 32", "pixel"), ("pixels, colour 32 x 32", "pixel_colour"),
            ("exact landmarks", "landmark"), ("detected landmarks (NME 4.4 %)", "landmark_detected"),
            ("colour pixels + detected landmarks", "both")]
    lines = ["| baseline (logistic regression) | RAF-DB UAR % | RAF-DB WAR % | DFEW UAR % | DFEW WAR % |",
             "|---|---|---|---|---|"]
    for label, key in rows:
        cells = [cal.get(f"rafdb_{key}_{m}") for m in ("uar", "war")] + \
                [cal.get(f"dfew_{key}_mean_{m}") for m in ("uar", "war")]
        lines.append(f"| {label} | " + " | ".join("—" if v is None else f"{100 * v:.1f}" for v in cells) + " |")
    err = result["world"]["landmark_error"]
    lines += ["", "| landmark network NME % on DFEW test frames | with | without |", "|---|---|---|"]
    for k in ("turn", "hand", "out_of_view", "motion_blur"):
        lines.append(f"| {k.replace('_', ' ')} | {100 * err[k + '_with']:.1f} | {100 * err[k + '_without']:.1f} |")
    return "\n".join(lines) + "\n"


def run_time(result: dict) -> str:
    """How long ``make claims`` took to write ``result``, on which machine, whether it built the
    worlds, and what the shipped MAE backbone took to train (re-trained only when it is missing)."""
    machine = result["machine"]
    status = {s for folder in result["world"]["status"].values() for s in folder.values()}
    world = ("building every world" if status == {"built"} else
             "reusing the worlds on disk" if status == {"reused"} else "building some worlds")
    mae = result["world"].get("mae", {})
    text = (f"Measured on {machine['cpu']} ({machine['threads']} threads, {machine['kernels']} "
            f"kernels): `make claims` took {result['seconds'] / 60:.1f} min, {world}")
    if mae.get("seconds"):
        text += (f"; the MAE backbone ships in `trained/mae_claims2/` (training it took "
                 f"{mae['seconds'] / 60:.1f} min on the machine that made it)")
    return text + ". Another CPU type takes another time.\n"


def longer_control_reading(longer: dict) -> str:
    """The plan's deviation 11 read aloud from ``results/claims_longer_control.json`` (written by
    ``python -m s2d_course.claims.budget --longer-control``): the control at the longer budget,
    how far it rose, the gap left, and whether the written predictions held (a rise of at least
    5 points, a gap whose 95 % interval lies above +20 points)."""
    levels = longer["levels"]
    lv = lambda key: f"{100 * float(key):g} %"  # noqa: E731
    ci = lambda d: f"{_ci(d)}"  # noqa: E731
    reached = "; ".join(
        f"at {_fmt_level(longer, k)} UAR {100 * np.mean([r['uar'] for r in e['runs']]):.1f} ± "
        f"{100 * np.std([r['uar'] for r in e['runs']], ddof=1):.1f} %, {_pct(e['rise']['mean'])} "
        f"points {_ci(e['rise'])} over its measured runs, last epoch selected in "
        f"{e['best_is_last']} of {len(e['runs'])}" for k, e in levels.items())
    gaps = "; ".join(f"at {_fmt_level(longer, k)} {_pct(e['gap']['mean'])} points {_ci(e['gap'])}"
                     for k, e in levels.items())
    rise_held = all(e["rise"]["mean"] >= 0.05 for e in levels.values())
    gap_held = all(e["gap"]["ci95"][0] > 0.20 for e in levels.values())
    text = (f"**{longer['claim'].replace('_', ' ').capitalize()}, the control trained longer.** "
            f"Exploratory, written down before it ran (the plan's deviation 11): the control "
            f"{longer['control']} trained for {longer['epochs']} epochs instead of "
            f"{longer['measured_epochs']}, seeds paired with the measured runs. It reaches {reached}. "
            f"Against it, the arm {longer['arm']} (its measured runs) leads by {gaps}. Predicted: a rise of "
            f"at least 5 points at every level ({'held' if rise_held else 'did not hold'}) and a "
            f"gap whose 95 % interval stays above +20 points ({'held' if gap_held else 'did not hold'}).")
    return textwrap.fill(text, 100) + "\n"


def _readme_blocks(result: dict, longer: dict | None = None) -> dict[str, str]:
    from .setup import CLAIMS

    readings = "\n\n".join(f"**{name.replace('_', ' ').capitalize()}.** {CLAIMS[name].question}\n\n"
                             + claim_reading(result, name)
                             for name in result["claims"] if name in CLAIMS)
    blocks = {"claims-table": claims_table(result), "claims-predictions": predictions_table(result),
              "claims-world": world_table(result), "claims-readings": readings + "\n",
              "claims-time": run_time(result)}
    if longer is not None:
        blocks["claims-longer"] = longer_control_reading(longer)
    return blocks


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.DOTALL)


def write_readme_table(result: dict, readme: str | Path, longer: dict | None = None) -> None:
    """Write the claims' generated blocks into the README, each between its markers
    (``<!-- claims-table -->`` ... ``<!-- /claims-table -->``; also ``claims-predictions``,
    ``claims-world``, ``claims-readings``, ``claims-time``, and with ``longer``
    ``claims-longer``)."""
    path = Path(readme)
    text = path.read_text()
    for name, block in _readme_blocks(result, longer).items():
        if not _block(name).search(text):
            raise ValueError(f"{path}: no <!-- {name} --> ... <!-- /{name} --> markers")
        text = _block(name).sub(lambda m: m.group(1) + block + m.group(2), text)
    path.write_text(text)


def readme_is_current(result: dict, readme: str | Path, longer: dict | None = None) -> list[str]:
    """The generated blocks that differ from what ``result`` (and ``longer``) write (empty: the
    README is current)."""
    text = Path(readme).read_text()
    return [name for name, block in _readme_blocks(result, longer).items() if block not in text]


def describe_claim(result: dict, name: str) -> str:
    """One claim of ``result`` in words and numbers: each arm's UAR per dose level (mean ± std
    over the seeds), whether each control trained, each gap with its 95 % interval and verdict,
    the slope across levels against the plan's prediction, and what the paper reports."""
    entry = result["claims"][name]
    lines = [f"{name}: {entry['question']}",
             f"  dose: {entry['dose']}, levels {', '.join(_fmt_level(entry, lv) for lv in entry['levels'])}"]
    for arm, levels in entry["arms"].items():
        tag = entry["labels"].get(arm)
        parts = []
        for level, a in levels.items():
            moved = f", best epoch last in {a['best_is_last']}/{len(a['seeds'])}" \
                if "best_is_last" in a else ""
            parts.append(f"{_fmt_level(entry, level)}: {100 * a['uar']['mean']:.1f} ± "
                         f"{100 * a['uar']['std']:.1f}{moved}")
        lines.append(f"  {arm}{f' ({tag})' if tag else ''}: UAR % " + "; ".join(parts))
    for comp_name, comp in entry["comparisons"].items():
        lines.append(f"  {comp_name}:")
        for level, d in comp["levels"].items():
            u = d["uar"]
            lines.append(f"    at {_fmt_level(entry, level)}: {_pct(u['mean'])} points, 95 % CI "
                         f"{_ci(u)} over {u['n']} paired "
                         f"seeds: {verdict(u, d['control_trains'])}")
        if "slope" in comp:
            s = comp["slope"]
            lines.append(f"    slope over the levels in this order: {_pct(s['mean'])} points per "
                         f"level, 95 % CI {_ci(s)}: the "
                         f"predicted direction {slope_verdict(s, entry['slope_sign'])}")
    lines.append(f"  predicted: {entry['prediction']}; the paper reports "
                 f"{PAPER_EFFECTS.get(name, 'no number')}")
    return "\n".join(lines)


def describe_attention(result: dict, claim: str = "temporal_attention") -> str:
    """The TMA attention of each video arm of ``claim`` at each level, mean over seeds and
    layers: the row entropy over ``log T`` (1 = uniform), the logit spread and the TMA output
    relative to its input, before -> after training; and how far the TMA weights moved."""
    entry = result["claims"][claim]
    lines = [f"TMA attention in the {claim.replace('_', ' ')} runs (mean over seeds and layers; "
             "entropy 1.000 = uniform over frames):"]
    for arm, levels in entry["arms"].items():
        for level, a in levels.items():
            if "tma_row" not in a:
                continue
            lines.append(
                f"  {arm} at {_fmt_level(entry, level)}: entropy {a['tma_row'][0]:.3f} -> "
                f"{a['tma_row'][1]:.3f}, logit std {a['tma_logit_std'][0]:.2g} -> "
                f"{a['tma_logit_std'][1]:.2g}, |A|/|u| {a['tma_output_ratio'][0]:.2g} -> "
                f"{a['tma_output_ratio'][1]:.2g}, weights moved {100 * a['tma_change']:.0f} %")
    return "\n".join(lines)


def slope_verdict(slope: dict, sign: int) -> str:
    """Whether a gap's slope over the dose levels went the predicted way (``sign``: +1 growing
    with the level index, -1 shrinking): held, went the other way, or not detectable."""
    low, high = slope["ci95"]
    if sign * low > 0 and sign * high > 0:
        return "held"
    if low > 0 or high < 0:
        return "the other way"
    return "not detectable at this power"


def predictions_table(result: dict) -> str:
    """Each comparison's predicted slope and gaps against the measured ones, as Markdown: the
    gap at each level (UAR points, 95 % CI) and the slope's verdict (:func:`slope_verdict`)."""
    lines = ["| claim | comparison | predicted | gaps by level (UAR points) | slope | verdict |",
             "|---|---|---|---|---|---|"]
    for name, entry in result["claims"].items():
        for comp_name, comp in entry["comparisons"].items():
            gaps = "; ".join(
                f"{_fmt_level(entry, lv)}: {_pct(d['uar']['mean'])} {_ci(d['uar'])}"
                + ("" if d["control_trains"] else " (control did not train)")
                for lv, d in comp["levels"].items())
            s = comp.get("slope")
            slope = f"{_pct(s['mean'])} {_ci(s)}" if s else "—"
            held = slope_verdict(s, entry["slope_sign"]) if s else "—"
            lines.append(f"| {name} | {comp_name} | {entry['prediction']} | {gaps} | {slope} | {held} |")
    return "\n".join(lines) + "\n"


def _still_rising(entry: dict, control: str, levels) -> str:
    """A sentence when most of a control's runs at some level selected their last epoch (still
    improving when the budget ended): the gap there is at equal training, not at convergence."""
    rising = []
    for level in levels:
        a = entry["arms"][control][level]
        if a.get("best_is_last") is not None and 2 * a["best_is_last"] > len(a["seeds"]):
            rising.append(f"{a['best_is_last']} of {len(a['seeds'])} runs at {_fmt_level(entry, level)}")
    if not rising:
        return ""
    return (f" The control selected its last epoch (its validation best came as its budget "
            f"ended) in {' and '.join(rising)}: the gap there is measured at equal training, not "
            "at convergence.")


def claim_reading(result: dict, name: str) -> str:
    """A claim read aloud from ``result``, every number from it: per comparison, the gap at each
    dose level with its verdict, whether the control trained (and where it was still improving
    at the end of its budget), and whether the slope over the levels went the predicted way;
    then what the paper reports."""
    entry = result["claims"][name]
    pixels = result.get("pixel_baselines") or {}
    out = []
    for comp_name, comp in entry["comparisons"].items():
        arm, control = comp_name.split(" - ", 1)
        parts = []
        for level, d in comp["levels"].items():
            u = d["uar"]
            parts.append(f"at {_fmt_level(entry, level)} {_pct(u['mean'])} points "
                         f"{_ci(u)}, "
                         f"{verdict(u, d['control_trains'])}")
        text = f"{arm[0].upper()}{arm[1:]} against {control}: " + "; ".join(parts) + "."
        uars = [entry["arms"][control][lv]["uar"]["mean"] for lv in comp["levels"]]
        trained = [entry["arms"][control][lv].get("trains", {}) for lv in comp["levels"]]
        if all(t.get("valid") for t in trained):
            span = (f"{100 * min(uars):.1f}-{100 * max(uars):.1f} %" if len(uars) > 1
                    else f"{100 * uars[0]:.1f} %")
            text += (f" The control trains{' at every level' if len(uars) > 1 else ''} "
                     f"(UAR {span}, chance {100 / 7:.1f} %")
            if name == "landmark_view" and pixels:
                bars = [np.mean([r["uar"] for r in pixels[lv]]) for lv in comp["levels"]]
                text += f"; the pixel baseline on the same images {100 * min(bars):.1f}-{100 * max(bars):.1f} %"
            text += ")."
        else:
            bad = [_fmt_level(entry, lv) for lv, t in zip(comp["levels"], trained) if not t.get("valid")]
            text += f" The control did not train at {', '.join(bad)}: no comparison there."
        text += _still_rising(entry, control, comp["levels"])
        if "slope" in comp:
            s = comp["slope"]
            text += (f" Over the levels the gap changes by {_pct(s['mean'])} points per step "
                     f"{_ci(s)}; the predicted shape "
                     f"({entry['prediction']}): {slope_verdict(s, entry['slope_sign'])}.")
        out.append(text)
    out.append(f"The paper reports {PAPER_EFFECTS.get(name, 'no number')}; this miniature measures "
               "the direction and how it depends on the dose, not the size.")
    return "\n\n".join(textwrap.fill(t, 100) for t in out)
