"""HTML building blocks shared by the model report and the explanation pages: self-contained pages
(inline CSS, images as data URIs, no scripts), tables, figures."""
from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

__all__ = ["CSS", "Html", "cell", "html_table", "html_page", "img", "section", "note", "fig_to_png",
           "fig_to_data_uri", "png_to_data_uri", "pyplot"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1em 2em;color:#222;background:#fff;line-height:1.45}
h1{border-bottom:3px solid #446;padding-bottom:.2em}h2{border-bottom:1px solid #99a;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccd;padding:.2em .55em;
text-align:right}th{background:#eef}td.l,th.l{text-align:left;max-width:28em;overflow-wrap:break-word}
tr:nth-child(even) td{background:#f8f8fc}
img{max-width:100%;height:auto;display:block;margin:.5em 0}.note{color:#555;font-size:.92em;max-width:60em}
.verdict{font-size:1.4em;font-weight:600;padding:.4em .8em;display:inline-block;border-radius:.3em}
.fake{background:#fde0dc;color:#a0221a}.real{background:#dcf3e2;color:#1b6b32}.unsure{background:#f5efcf;color:#6b5a10}
nav a{margin-right:1em}details{margin:.5em 0}code{background:#f2f2f6;padding:0 .2em}
.pos{color:#b0281c}.neg{color:#1d7a3a}.grid{display:flex;flex-wrap:wrap;gap:1em}.grid>div{flex:1 1 480px}
"""


def fig_to_png(fig, *, dpi: int = 96) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def fig_to_data_uri(fig, *, dpi: int = 96) -> str:
    """Render a matplotlib figure to a ``data:image/png;base64,...`` URI and close it."""
    return png_to_data_uri(fig_to_png(fig, dpi=dpi))


def png_to_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class Html(str):
    """A table cell that is already HTML (not escaped)."""


def cell(v, digits: int = 3) -> str:
    if isinstance(v, Html):
        return str(v)
    if v is None:
        return "&ndash;"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "&ndash;"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 10 ** -digits):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def html_table(rows: list, headers: list[str], *, left: int = 1, digits: int = 3) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text."""
    head = "".join(f'<th class="l">{html.escape(h)}</th>' if i < left else f"<th>{html.escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r in rows:
        cells = "".join(f'<td class="l">{cell(v, digits)}</td>' if i < left else f"<td>{cell(v, digits)}</td>"
                        for i, v in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML document (inline CSS, no scripts)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>\n{body}\n</section>\n'


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt
