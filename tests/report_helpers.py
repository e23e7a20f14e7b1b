"""Reading Snakemake's HTML report and the captions the rules declare (shared by report tests)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from .conftest import REPO


def parse_report(page: Path) -> tuple[dict, dict, str]:
    """The report's results (path -> caption, ...), categories (section -> subsection -> paths)
    and workflow description, from the JSON the page embeds."""
    text = page.read_text()
    parsed = {name: json.loads(re.search(rf"var {name} = ([{{\"].*?);\n", text).group(1))
              for name in ("results", "categories", "workflow_desc")}
    return parsed["results"], parsed["categories"], parsed["workflow_desc"]


def declared_captions(*stages: str) -> list[str]:
    """Caption files of every report() output in rules/<stage>.smk."""
    return sorted({m.group(1) for stage in stages
                   for m in re.finditer(r'caption="\.\./report/([\w.]+)"', (REPO / "rules" / f"{stage}.smk").read_text())})


def plain(text: str) -> str:
    """Words without RST or HTML markup, for comparing a caption file with its rendering."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>|[*`\\]", " ", text)).split())


def caption_opening(name: str) -> str:
    """The first words of a caption file, before any Jinja template part."""
    return plain((REPO / "report" / name).read_text().split("{{")[0].split("{%")[0])[:60]


def missing_captions(results: dict, names: list[str]) -> list[str]:
    """Caption files none of whose renderings is among the report's items."""
    captions = [plain(item["caption"]) for item in results.values()]
    return [name for name in names if not any(c.startswith(caption_opening(name)) for c in captions)]
