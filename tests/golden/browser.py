"""browser.py - look at finscope's HTML and SVG in a real browser (headless Chromium).

    import browser
    if not browser.available(): ...skip...
    bx = browser.boxes(html)              # every "svg text" as laid out by the browser
    assert not browser.overlaps(bx)

One Chromium start costs seconds: put many SVGs in one page (each is its own "chart").

The page is rendered by Chromium itself, so the boxes are the ones a person sees: a script
appended to the page measures each element with getBoundingClientRect once layout is done and
writes the measurements into the DOM, which --dump-dom prints.
"""
import html as htmllib
import json
import os
import shutil
import subprocess
import tempfile

_MARK = "fsc-boxes"

_SCRIPT = """
<script>
(function () {
  var svgs = Array.prototype.slice.call(document.querySelectorAll('svg'));
  var out = [];
  document.querySelectorAll(%s).forEach(function (e) {
    var r = e.getBoundingClientRect();
    var svg = e.closest('svg');
    var chart = svg ? (svg.id || String(svgs.indexOf(svg))) : '';
    var sr = svg ? svg.getBoundingClientRect() : null;
    out.push({text: e.textContent, x: r.left + window.scrollX, y: r.top + window.scrollY,
              w: r.width, h: r.height, chart: chart,
              chart_box: sr ? [sr.left + window.scrollX, sr.top + window.scrollY,
                               sr.width, sr.height] : null});
  });
  var pre = document.createElement('pre');
  pre.id = '%s';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium():
    """The browser's path, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def available():
    return chromium() is not None


def page(svg_text):
    """A minimal HTML page holding one SVG document inline (its XML prolog dropped)."""
    s = svg_text
    if s.startswith("<?xml"):
        s = s[s.index("?>") + 2:]
    return "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body style='margin:0'>" + \
        s + "</body></html>"


def boxes(html, selector="svg text", timeout=60):
    """Layout boxes of every element matching selector in html (a whole document), in CSS pixels
    from the page's top left: dicts text, x, y, w, h, chart (id of the nearest ancestor svg, else
    its index among the page's svgs) and chart_box [x, y, w, h] of that svg."""
    script = _SCRIPT % (json.dumps(selector), _MARK)
    low = html.lower()
    at = low.rfind("</body>")
    doc = html[:at] + script + html[at:] if at >= 0 else html + script
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "page.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(doc)
        r = subprocess.run([chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--user-data-dir=" + os.path.join(d, "profile"),
                            "--window-size=1600,1200", "--virtual-time-budget=5000",
                            "--dump-dom", "file://" + path],
                           capture_output=True, text=True, timeout=timeout)
    start = r.stdout.find('<pre id="%s">' % _MARK)
    if start < 0:
        raise RuntimeError("chromium printed no measurements (status %d): %s" %
                           (r.returncode, r.stderr[-2000:]))
    start = r.stdout.index(">", start) + 1
    end = r.stdout.index("</pre>", start)
    return json.loads(htmllib.unescape(r.stdout[start:end]))


def overlaps(bx, slack=0.5):
    """Pairs of boxes of one chart whose rectangles overlap by more than slack pixels each way
    (empty or invisible boxes never overlap)."""
    found = []
    by_chart = {}
    for b in bx:
        if b["w"] > 0 and b["h"] > 0:
            by_chart.setdefault(b["chart"], []).append(b)
    for items in by_chart.values():
        items.sort(key=lambda b: b["x"])
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if b["x"] >= a["x"] + a["w"] - slack:
                    break
                if (min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > slack and
                        min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > slack):
                    found.append((a, b))
    return found


def outside(bx, slack=0.5):
    """Boxes that leave their svg's box."""
    out = []
    for b in bx:
        c = b.get("chart_box")
        if not c or b["w"] <= 0:
            continue
        if (b["x"] < c[0] - slack or b["y"] < c[1] - slack or
                b["x"] + b["w"] > c[0] + c[2] + slack or b["y"] + b["h"] > c[1] + c[3] + slack):
            out.append(b)
    return out
