"""``report.html``: one self-contained page per export that a person can look at before training.

Per character: how many cut-outs were chosen and rejected, a contact sheet of the chosen ones on a
checkerboard, histograms of each quality signal (chosen against rejected) and the rejected examples
with the reason. Images are inline PNGs and histograms inline SVG, so the page opens anywhere with
no other file. Contact sheets are capped (`SHEET_MAX` chosen, `REJECTED_MAX` rejected per
character) so the page stays small on a season-long export.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from typing import Any

import cv2
import numpy as np

from app.export.quality import Decisions, Key
from app.export.render import bbox, object_alpha
from app.export.selection import character_key
from app.store import Project

SHEET_MAX = 36
REJECTED_MAX = 12
THUMB = 128
SIGNALS = (("sharpness", 0.0, 1.0), ("truncation", 0.0, 1.0), ("occlusion", 0.0, 1.0), ("aesthetic", 0.0, 1.0),
           ("face_size", 0.0, 0.5))


def _checkerboard(h: int, w: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    light = ((yy // cell + xx // cell) % 2 == 0)[..., None]
    return np.where(light, 230, 180).astype(np.float32) * np.ones(3, np.float32)


def cutout_thumbnail(project: Project, frame: int, oid: int, size: int = THUMB) -> np.ndarray | None:
    """The object's RGBA cut-out of ``frame``, cropped to its box and laid on a checkerboard."""
    labels = project.layers.read("masks", frame)
    if labels is None:
        return None
    alpha = object_alpha(labels, project.layers.read("alpha", frame), oid)
    box = bbox(alpha > 0)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    image = project.frame(frame)[y0:y1, x0:x1].astype(np.float32)
    a = alpha[y0:y1, x0:x1].astype(np.float32)[..., None] / 255.0
    h, w = a.shape[:2]
    scale = size / max(h, w)
    out = image * a + _checkerboard(h, w, max(2, round(8 / scale))) * (1.0 - a)
    small = cv2.resize(out, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0, 255).astype(np.uint8)


def _png_uri(rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        return ""
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def _histogram_svg(name: str, chosen: list[float], rejected: list[float], lo: float, hi: float, bins: int = 10) -> str:
    edges = np.linspace(lo, hi, bins + 1)
    c = np.histogram(np.clip(chosen, lo, hi), edges)[0] if chosen else np.zeros(bins, int)
    r = np.histogram(np.clip(rejected, lo, hi), edges)[0] if rejected else np.zeros(bins, int)
    top = max(1, int(max(c.max(initial=0), r.max(initial=0))))
    w, h, bw = 220, 90, 220 / bins
    bars = []
    for i in range(bins):
        for j, (counts, colour) in enumerate(((c, "#2a9d8f"), (r, "#e76f51"))):
            bh = 70 * counts[i] / top
            bars.append(f'<rect x="{i * bw + j * bw / 2:.1f}" y="{75 - bh:.1f}" width="{bw / 2 - 1:.1f}" '
                        f'height="{bh:.1f}" fill="{colour}"><title>{edges[i]:.2f}-{edges[i + 1]:.2f}: '
                        f'{counts[i]}</title></rect>')
    return (f'<figure><svg width="{w}" height="{h}" role="img" aria-label="{name}">{"".join(bars)}'
            f'<text x="0" y="88" font-size="10">{lo:g}</text><text x="{w - 20}" y="88" font-size="10">{hi:g}</text>'
            f"</svg><figcaption>{html.escape(name)}</figcaption></figure>")


def render_report(project: Project, decisions: Decisions, header: dict[str, Any]) -> bytes:
    """The whole page as UTF-8 bytes."""
    names = {o.id: character_key(o) for o in project.manifest.objects}
    confirmed = {o.id: bool(getattr(o, "confirmed", False)) for o in project.manifest.objects}
    by_char: dict[str, list[Key]] = defaultdict(list)
    for key in sorted(decisions.reasons):
        by_char[names.get(key[1], f"object {key[1]}")].append(key)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Celstudio dataset report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}",
        "h2{margin-top:32px;border-bottom:1px solid #ccc}.sheet{display:flex;flex-wrap:wrap;gap:6px}",
        ".cell{background:#fff;border:1px solid #ddd;padding:4px;width:136px;font-size:11px}",
        ".cell img{display:block;margin:auto;max-width:128px;max-height:128px}",
        ".rej{border-color:#e76f51}.hist{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}",
        "figcaption{font-size:12px;text-align:center}.legend span{display:inline-block;width:10px;height:10px}",
        "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}</style></head><body>",
        f"<h1>Dataset report: {html.escape(str(header.get('project', '')))}</h1>",
        f"<p>Format <b>{html.escape(str(header.get('format', '')))}</b>, "
        f"{len(decisions.chosen)} cut-outs chosen of {len(decisions.reasons)} considered, "
        f"{len(by_char)} characters.</p>",
        "<p class='legend'><span style='background:#2a9d8f'></span> chosen "
        "<span style='background:#e76f51'></span> rejected</p>",
        "<table><tr><th>character</th><th>chosen</th><th>rejected</th></tr>",
    ]
    for char, keys in by_char.items():
        n = sum(k in decisions.chosen for k in keys)
        parts.append(f"<tr><td>{html.escape(char)}</td><td>{n}</td><td>{len(keys) - n}</td></tr>")
    parts.append("</table>")
    for char, keys in by_char.items():
        chosen = [k for k in keys if k in decisions.chosen]
        rejected = [k for k in keys if k not in decisions.chosen]
        flag = "" if any(confirmed.get(k[1], False) for k in keys) else " <small>(automatic name, not confirmed)</small>"
        parts.append(f"<section><h2>{html.escape(char)}{flag}</h2>"
                     f"<p>{len(chosen)} chosen, {len(rejected)} rejected</p><div class='hist'>")
        for name, lo, hi in SIGNALS:
            values_c = [float(decisions.signals[k][name]) for k in chosen if name in decisions.signals.get(k, {})]
            values_r = [float(decisions.signals[k][name]) for k in rejected if name in decisions.signals.get(k, {})]
            if values_c or values_r:
                parts.append(_histogram_svg(name, values_c, values_r, lo, hi))
        parts.append("</div><h3>Chosen</h3><div class='sheet'>")
        parts.extend(_cells(project, decisions, _spread(chosen, SHEET_MAX), rejected=False))
        parts.append("</div><h3>Rejected</h3><div class='sheet'>")
        parts.extend(_cells(project, decisions, _spread(rejected, REJECTED_MAX), rejected=True))
        parts.append("</div></section>")
    parts.append("</body></html>")
    return "".join(parts).encode("utf-8")


def _spread(keys: list[Key], n: int) -> list[Key]:
    if len(keys) <= n:
        return keys
    picks = np.linspace(0, len(keys) - 1, n).round().astype(int)
    return [keys[i] for i in sorted(set(picks.tolist()))]


def _cells(project: Project, decisions: Decisions, keys: list[Key], *, rejected: bool) -> list[str]:
    cells = []
    for frame, oid in keys:
        thumb = cutout_thumbnail(project, frame, oid)
        img = f"<img alt='frame {frame}' src='{_png_uri(thumb)}'>" if thumb is not None else ""
        q = decisions.signals.get((frame, oid), {})
        score = f" · aesthetic {q['aesthetic']:.2f}" if "aesthetic" in q else ""
        cells.append(f"<div class='cell{' rej' if rejected else ''}'>{img}frame {frame}{score}<br>"
                     f"{html.escape(decisions.reasons.get((frame, oid), ''))}</div>")
    return cells
