"""Write page.html, the page `dvc plots show` fills (.dvc/config: plots.html_template), with Vega inlined.

    python3 .dvc/plots/make_page.py      # needs npm and the npm registry; change VERSIONS first to update

Each library's minified browser build, from its npm package, goes into the page as an inline script,
so the page DVC writes draws its charts offline wherever it is written (-o anywhere).
"""
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
# The newest of the majors dvc-render 1.0.2 loads from its CDN (vega@5.20.2, vega-lite@5.2.0,
# vega-embed@6.18.2): its templates are Vega-Lite v5 specs. Load order matters: each needs the one before.
VERSIONS = {"vega": "5.33.1", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
BUILDS = {"vega": "build/vega.min.js", "vega-lite": "build/vega-lite.min.js", "vega-embed": "build/vega-embed.min.js"}
# dvc_render.html.HTML.embed replaces these anywhere in the page, inside scripts too.
DVC_PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")
# An inline script ends at "</script"; "<!--" and "<script" switch the HTML parser to its escaped states.
HTML_BREAKERS = ("</script", "<!--", "<script")

# No scripts placeholder, on purpose: DVC puts its renderers' <script src="https://cdn..."> tags there.
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- Written by .dvc/plots/make_page.py: Vega, Vega-Lite and vega-embed inlined, so that the page works offline. -->
INLINE
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def build(name, version, folder):
    """The minified build of npm package `name`@`version`, checked to be safe inline; its LICENSE beside this file."""
    subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    with tarfile.open(Path(folder) / f"{name}-{version}.tgz") as package:
        code = package.extractfile(f"package/{BUILDS[name]}").read().decode()
        if "package/LICENSE" in package.getnames():  # vega's package has none: licenses/vega.txt is its repository's
            (HERE / "licenses" / f"{name}.txt").write_bytes(package.extractfile("package/LICENSE").read())
    code = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "", code)  # the .map files are not shipped
    for text in DVC_PLACEHOLDERS + HTML_BREAKERS:
        if text in code.lower():
            raise SystemExit(f"error: {name} {version}: {BUILDS[name]} contains {text!r}; it cannot be inlined as is")
    return f"    <!-- {name} {version}, BSD-3-Clause: .dvc/plots/licenses/{name}.txt -->\n    <script>{code}</script>"


def main():
    with tempfile.TemporaryDirectory() as folder:
        inline = "\n".join(build(name, version, folder) for name, version in VERSIONS.items())
    (HERE / "page.html").write_text(PAGE.replace("INLINE", inline), encoding="utf-8")
    print(f"wrote {HERE / 'page.html'}: " + ", ".join(f"{name} {version}" for name, version in VERSIONS.items()))


if __name__ == "__main__":
    main()
