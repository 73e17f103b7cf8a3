"""`make mail-templates`: compile each MJML source here to the Jinja template the service reads.

Development only (the compiled files are committed; running the service needs no Node). A source
`<name>.mjml` becomes `templates/email/<name>/body.html`, and `broadcast_layout.mjml` the broadcast
layout `templates/email/broadcast/layout.html`; files starting with `_` are partials (mj-include).
MJML keeps the Jinja `{{ }}`, `{% %}` and `{% trans %}` text as it is; its only complaints are about
colours given as Jinja expressions, which is why validation is `soft`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EMAIL = HERE.parent
MJML = EMAIL.parent.parent / "node_modules" / ".bin" / "mjml"
TARGETS = {"broadcast_layout": EMAIL / "broadcast" / "layout.html"}


def target(source: Path) -> Path:
    return TARGETS.get(source.stem, EMAIL / source.stem / "body.html")


def main() -> int:
    for source in sorted(HERE.glob("*.mjml")):
        if source.name.startswith("_"):
            continue
        out = target(source)
        result = subprocess.run(  # noqa: S603 - our own pinned mjml on our own sources
            [str(MJML), str(source), "--config.minify=false", "--config.beautify=false",
             "--config.validationLevel=soft", "--config.keepComments=false", "-s"],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            return result.returncode
        html = result.stdout
        if html.startswith("<!-- FILE:"):
            html = html.split("\n", 1)[1]
        # Indentation is a fifth of the output, and every copy of a broadcast carries (and encodes) it.
        html = "\n".join(line.strip() for line in html.splitlines() if line.strip())
        out.write_text(html + "\n", encoding="utf-8")
        print(f"{source.name} -> {out.relative_to(EMAIL.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
