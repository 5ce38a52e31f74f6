"""The HTML page around the viewer script: one self-contained document."""

from __future__ import annotations

import html as html_lib
import json
from pathlib import Path

_SCRIPT = Path(__file__).with_name("viewer.js")

_STYLE = """
html, body { margin: 0; height: 100%; overflow: hidden; background: #c7d6e5; font: 13px system-ui, sans-serif; }
#tb-root { position: relative; width: 100%; height: 100%; }
#tb-canvas { display: block; width: 100%; height: 100%; cursor: grab; }
#tb-bar { position: absolute; left: 8px; right: 8px; bottom: 8px; display: flex; gap: 8px; align-items: center;
  padding: 6px 8px; background: rgba(255, 255, 255, 0.82); border-radius: 6px; }
#tb-bar > * { white-space: nowrap; }
#tb-bar button, #tb-bar select { font: inherit; }
#tb-timeline { flex: 1; min-width: 80px; }
#tb-time { font-variant-numeric: tabular-nums; white-space: nowrap; }
.tb-hint { color: #555; margin-left: auto; }
#tb-tip { position: fixed; display: none; padding: 2px 6px; background: #222; color: #fff; border-radius: 4px;
  pointer-events: none; }
#tb-error { position: absolute; left: 8px; right: 8px; top: 8px; display: none; padding: 8px; white-space: pre-wrap;
  background: #fbe3e3; color: #900; border: 1px solid #d99; border-radius: 6px; font-family: monospace; }
"""


def _json_for_script(value) -> str:
    """JSON that cannot close the <script> element it sits in."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\\\/")


def page(header: dict, blob: str = "", title: str = "tumble") -> str:
    """The document: styles, the JSON ``header``, the base64 ``blob`` and the viewer script, all inline."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html_lib.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"  # no favicon request
        f"<style>{_STYLE}</style></head><body>"
        "<div id='tb-root'><div id='tb-error'></div></div>"
        f"<script type='application/json' id='tb-header'>{_json_for_script(header)}</script>"
        f"<script type='application/octet-stream' id='tb-data'>{blob}</script>"
        f"<script>{_SCRIPT.read_text()}</script>"
        "</body></html>\n"
    )
