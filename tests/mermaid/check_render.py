"""Render cti-fsm's mermaid diagrams with mermaid.js in headless Chromium; fail on any error.

The mermaid text is only useful if mermaid.js draws it: ids with dots or underscores,
reserved words and stray characters break its parser or its nesting. This script renders
the default chart (plain and highlighted), a chart with awkward names and one with
parallel regions, guards and timers, each in the same page, and checks that mermaid
parses and renders every one and that every state and every signal of the chart (and
the guards' and timers' words) appears in the drawing. A deliberately broken diagram rendered
alongside must fail, which shows the check can fail.

Needs Debian's ``chromium`` and mermaid from the npm registry, installed here with
``npm ci --prefix tests/mermaid`` (into ``tests/mermaid/node_modules``, git-ignored). No
network: the page loads mermaid from that folder.

    python tests/mermaid/check_render.py [--screenshot DIR]

Exit status 0 if every diagram rendered, 1 otherwise, 2 if Chromium or mermaid is missing.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cti_fsm import Chart, default_chart, load_chart_text
from cti_fsm.diagrams import MERMAID_LOOKALIKES, mermaid_text

HERE = Path(__file__).resolve().parent
MERMAID_JS = HERE / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    # mermaid renders asynchronously: let the page's promises settle before the dump
    "--virtual-time-budget=60000",
]

# Names that trip mermaid: keywords as state names, underscores, non-ASCII, quotes, and
# characters mermaid reads as syntax or HTML in labels.
AWKWARD_CHART = """
chart: "awkward; #1"
initial: end
states:
  end: {}
  note:
    initial: state_1
    history: shallow
    states:
      state_1: {}
      "日本": {}
      'say "hi" & <b>': {}
      class: {}
commands:
  go:
    from: [end]
    confirm: went
  "go_back":
    from: [note]
    confirm: hop
signals:
  went:
    transitions:
      - {from: end, to: note, emit: [{onGo: {result: "a;b#c <x> & d: e"}}]}
  hop:
    transitions:
      - {from: state_1, to: "日本", emit: [onGo]}
      - {from: "日本", to: 'say "hi" & <b>', emit: [onGo]}
      - {from: 'say "hi" & <b>', to: class}
      - {from: note, to: end}
      - {from: end, emit: [onGo]}
notifications:
  onGo: {fields: [result]}
"""

# Regions, guards, delayed transitions and a timer delivering a signal, small.
FEATURES_CHART = """
chart: features
initial: idle
settings: {grace: 5}
states:
  idle: {}
  busy:
    initial: working
    states:
      working:
        after:
          - {seconds: 30, to: idle, emit: [onTimeout]}
          - {seconds: {setting: grace}, signal: nudge}
      resting: {}
    regions:
      mood:
        initial: calm
        states:
          calm: {}
          cross: {}
commands:
  start: {from: [idle], confirm: started}
  rest: {from: [working], local: true, confirm: rested}
signals:
  started:
    transitions:
      - {from: idle, to: busy}
  rested:
    transitions:
      - {from: working, to: resting, when: {in: cross}}
      - {from: working, to: idle}
  nudge:
    transitions:
      - {from: calm, to: cross, when: {in: working}}
      - {from: mood, to: calm}
notifications:
  onTimeout: {fields: []}
"""

BROKEN = "stateDiagram-v2\n  sA --> \n  state sB {{\n"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body>
<script src="{mermaid}"></script>
<script>
const diagrams = {diagrams};
mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
(async () => {{
  const results = [];
  for (const [index, text] of diagrams.entries()) {{
    const holder = document.createElement("div");
    document.body.appendChild(holder);
    try {{
      await mermaid.parse(text);
      const {{svg}} = await mermaid.render("diagram" + index, text);
      holder.innerHTML = svg;
      const copy = holder.cloneNode(true);
      copy.querySelectorAll("style").forEach((node) => node.remove());
      results.push({{ok: true, text: copy.textContent}});
    }} catch (error) {{
      results.push({{ok: false, error: String(error && error.message || error)}});
    }}
  }}
  const out = document.createElement("pre");
  out.id = "results";
  out.textContent = JSON.stringify(results);
  document.body.prepend(out);
}})();
</script></body></html>
"""


def chromium() -> str | None:
    """The Chromium binary: $CHROMIUM, or chromium / chromium-browser on PATH."""
    found = os.environ.get("CHROMIUM")
    return found or shutil.which("chromium") or shutil.which("chromium-browser")


def render(texts: list[str], screenshot: Path | None = None) -> list[dict[str, object]]:
    """Render every mermaid text in one headless Chromium page; one result per text.

    Raises:
        RuntimeError: Chromium failed or the page reported nothing.
    """
    exe = chromium()
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="cti-fsm-mermaid-") as tmp:
        page = Path(tmp, "page.html")
        diagrams = json.dumps(texts).replace("</", "<\\/")
        page.write_text(
            PAGE.format(mermaid=MERMAID_JS.as_uri(), diagrams=diagrams), encoding="utf-8"
        )
        command = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile"]
        if screenshot is not None:
            shot = [f"--screenshot={screenshot}", "--window-size=2400,3000"]
            subprocess.run([*command, *shot, page.as_uri()], capture_output=True, timeout=300)
        done = subprocess.run(
            [*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=300
        )
    match = re.search(r'<pre id="results">(.*?)</pre>', done.stdout, re.S)
    if match is None:
        raise RuntimeError(
            f"Chromium exited {done.returncode} without results; stderr:\n{done.stderr[-3000:]}"
        )
    results: list[dict[str, object]] = json.loads(html.unescape(match.group(1)))
    return results


def expected_words(chart: Chart) -> set[str]:
    """What the drawing must show: every state's name, every signal's (a delayed
    transition's is written ``after N s``), and the guards' and timers' words."""
    words = {spec.name for spec in chart.states.values()}
    for t in chart.transitions():
        words.add(t.signal if t.timer is None else "after")
        words.update("[" + g.name if g.name else "in" for g in t.guards)
    if chart.timers:
        words.add("after")
    return words


def main(argv: list[str] | None = None) -> int:
    """Render and check; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="PNG", type=Path, help="also save a screenshot")
    args = parser.parse_args(argv)
    if chromium() is None:
        print("check_render: no Chromium (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    if not MERMAID_JS.is_file():
        print(f"check_render: no {MERMAID_JS}; run: npm ci --prefix {HERE}", file=sys.stderr)
        return 2

    agent = default_chart()
    awkward = load_chart_text(AWKWARD_CHART, "awkward.yaml")
    features = load_chart_text(FEATURES_CHART, "features.yaml")
    cases: list[tuple[str, Chart | None, str]] = [
        ("default chart", agent, mermaid_text(agent)),
        ("default chart, talking highlighted", agent, mermaid_text(agent, highlight="talking")),
        ("awkward names", awkward, mermaid_text(awkward, highlight="日本")),
        ("regions, guards, timers", features, mermaid_text(features, highlight="calm")),
        ("broken control (must fail)", None, BROKEN),
    ]
    started = time.perf_counter()
    results = render([text for _, _, text in cases], args.screenshot)
    elapsed = time.perf_counter() - started

    failed = False
    for (name, chart, _), result in zip(cases, results, strict=True):
        if chart is None:
            if result["ok"]:
                print(f"FAIL {name}: rendered, so the check cannot see errors")
                failed = True
            else:
                print(f"ok   {name}: mermaid reported {str(result['error']).splitlines()[0]!r}")
            continue
        if not result["ok"]:
            print(f"FAIL {name}: {result['error']}")
            failed = True
            continue
        shown = str(result["text"])
        words = (w.translate(MERMAID_LOOKALIKES) for w in expected_words(chart))
        missing = sorted(w for w in words if w not in shown)
        if missing:
            print(f"FAIL {name}: rendered, but these are not in the drawing: {missing}")
            failed = True
        else:
            print(f"ok   {name}: rendered, every state and signal shown")
    print(f"mermaid render check: {len(cases)} diagrams in {elapsed:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
