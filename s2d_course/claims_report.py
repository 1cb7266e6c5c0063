"""The claims as people read them: a Markdown table for the README, a claim and the TMA
attention in words and numbers (notebooks 02-04), from ``results/claims.json``."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["claims_table", "write_readme_table", "describe_claim", "describe_attention"]

_README_BLOCK = re.compile(r"(<!-- claims-table -->\n).*?(<!-- /claims-table -->)", re.DOTALL)


def claims_table(result: dict) -> str:
    """The claims as a Markdown table: each arm's UAR / WAR (mean ± std over seeds, percent)
    and each difference from the claim's reference arm with its 95 % interval (UAR)."""
    lines = ["| claim | arm | label share | UAR % | WAR % | Δ UAR vs reference [95 % CI] | "
             "seeds | test clips/images |", "|---|---|---|---|---|---|---|---|"]
    for name, entry in result["claims"].items():
        for arm, shares in entry["arms"].items():
            for share, a in shares.items():
                diff = entry["differences"].get(f"{arm} @ {share}", {}).get("uar")
                delta = (f"{100 * diff['mean']:+.1f} [{100 * diff['ci95'][0]:+.1f}, "
                         f"{100 * diff['ci95'][1]:+.1f}]" if diff else
                         "reference" if arm == entry["reference"] else "—")
                lines.append(
                    f"| {name} | {arm} | {float(share):.0%} | {100 * a['uar']['mean']:.1f} ± "
                    f"{100 * a['uar']['std']:.1f} | {100 * a['war']['mean']:.1f} ± "
                    f"{100 * a['war']['std']:.1f} | {delta} | {len(a['seeds'])} | {a['test_size']} |")
    return "\n".join(lines) + "\n"


def write_readme_table(result: dict, readme: str | Path) -> None:
    """Put :func:`claims_table` between the README's ``<!-- claims-table -->`` markers."""
    path = Path(readme)
    text = path.read_text()
    if not _README_BLOCK.search(text):
        raise ValueError(f"{path}: no <!-- claims-table --> ... <!-- /claims-table --> markers")
    table = claims_table(result)
    path.write_text(_README_BLOCK.sub(lambda m: m.group(1) + table + m.group(2), text))


def describe_claim(result: dict, name: str) -> str:
    """One claim of ``result`` in words and numbers: each arm's UAR and WAR (mean ± std over the
    seeds, test size) and each paired difference from the reference arm with its 95 % interval."""
    entry = result["claims"][name]
    lines = [f"{name}: {entry['question']}"]
    for arm, shares in entry["arms"].items():
        for share, a in shares.items():
            where = f" with {float(share):.0%} of the labels" if len(shares) > 1 else ""
            lines.append(f"  {arm}{where}: UAR {100 * a['uar']['mean']:.1f} ± "
                         f"{100 * a['uar']['std']:.1f} %, WAR {100 * a['war']['mean']:.1f} ± "
                         f"{100 * a['war']['std']:.1f} % ({len(a['seeds'])} seeds, "
                         f"{a['test_size']} test items)")
    for key, d in entry["differences"].items():
        arm, share = key.rsplit(" @ ", 1)
        where = f" with {float(share):.0%} of the labels" if len(entry["arms"][arm]) > 1 else ""
        u = d["uar"]
        verdict = ("no difference shown" if u["ci95"][0] <= 0 <= u["ci95"][1] else
                   "better" if u["ci95"][0] > 0 else "worse")
        lines.append(f"  {arm} - {entry['reference']}{where}: UAR {100 * u['mean']:+.1f} points, "
                     f"95 % CI [{100 * u['ci95'][0]:+.1f}, {100 * u['ci95'][1]:+.1f}] over "
                     f"{u['n']} paired seeds: {verdict}")
    return "\n".join(lines)


def describe_attention(result: dict) -> str:
    """The TMA attention of the reference video arm, per layer, mean over seeds: entropy over
    ``log T`` of single rows and of the position-averaged map (1 = uniform), and the spread of
    the attention logits, before and after training."""
    runs = list(result["tma_attention"].values())
    lines = [f"TMA attention over {runs[0]['frames']} frames, {runs[0]['clips']} test clips, "
             f"mean of {len(runs)} seeds (1.000 = uniform):",
             "  layer | row entropy before -> after | averaged-map entropy before -> after | "
             "logit std before -> after"]
    for layer in range(len(runs[0]["before"])):
        mean = {(when, key): float(np.mean([r[when][layer][key] for r in runs]))
                for when in ("before", "after") for key in ("row", "mean_map", "logit_std")}
        lines.append(f"  {layer:5d} | {mean['before', 'row']:.4f} -> {mean['after', 'row']:.4f} | "
                     f"{mean['before', 'mean_map']:.4f} -> {mean['after', 'mean_map']:.4f} | "
                     f"{mean['before', 'logit_std']:.2g} -> {mean['after', 'logit_std']:.2g}")
    return "\n".join(lines)
