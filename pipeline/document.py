"""A report as a list of blocks, rendered to Markdown and to self-contained HTML.

Blocks: ("heading", text), ("subheading", text), ("paragraph", text),
("table", header, rows), ("image", caption, path relative to the report), ("code", text).
One list feeds both renderers, so the two files always show the same content.
"""
import base64
import html
import os

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%;height:auto}
figure{margin:1em 0}figcaption{color:#555;font-size:14px}pre{background:#f6f6f6;padding:1em;overflow:auto}"""


def to_markdown(blocks):
    lines = []
    for kind, *content in blocks:
        if kind == "heading":
            lines += [f"# {content[0]}", ""]
        elif kind == "subheading":
            lines += [f"## {content[0]}", ""]
        elif kind == "paragraph":
            lines += [content[0], ""]
        elif kind == "table":
            header, rows = content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
        elif kind == "image":
            caption, path = content
            lines += [f"![{caption}]({path})", ""]
        elif kind == "code":
            lines += ["```", content[0].rstrip("\n"), "```", ""]
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return "\n".join(lines)


def to_html(blocks, title, base_directory):
    """One HTML file with every image embedded as a data URI: it opens offline, alone."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body>"]
    for kind, *content in blocks:
        if kind == "heading":
            parts.append(f"<h1>{html.escape(content[0])}</h1>")
        elif kind == "subheading":
            parts.append(f"<h2>{html.escape(content[0])}</h2>")
        elif kind == "paragraph":
            parts.append(f"<p>{html.escape(content[0])}</p>")
        elif kind == "table":
            header, rows = content
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "image":
            caption, path = content
            with open(os.path.join(base_directory, path), "rb") as handle:
                data = base64.b64encode(handle.read()).decode("ascii")
            parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        elif kind == "code":
            parts.append(f"<pre>{html.escape(content[0])}</pre>")
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    parts.append("</body></html>")
    return "\n".join(parts)


def number(column, value):
    """The notebook's precision: epochs to 0.1, losses to 5 places, the rest to 4."""
    if column == "best_epoch":
        return f"{value:.1f}"
    if column == "support":
        return f"{int(value):,}"
    return f"{value:.5f}" if column.endswith("loss") else f"{value:.4f}"


def table(frame, index_name):
    """A ("table", header, rows) block from a DataFrame, its index as the first column."""
    rows = [[str(index)] + [number(column, value) for column, value in row.items()] for index, row in frame.iterrows()]
    return ("table", [index_name, *map(str, frame.columns)], rows)
