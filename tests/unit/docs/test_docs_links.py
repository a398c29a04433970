"""The docs/ pages link to what exists and list every setting and metric of the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.settings import GatewaySettings, Settings

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_FENCE = re.compile(r"```.*?```", re.S)


def _anchors(path: Path) -> set[str]:
    """GitHub-style heading anchors of ``path`` plus explicit ``<a id>`` anchors."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for heading in re.findall(r"^#+ (.*)$", text, re.M):
        heading = re.sub(r"<a id=.*?</a>", "", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _links() -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    for page in PAGES:
        text = _FENCE.sub("", page.read_text(encoding="utf-8"))
        for match in _LINK.finditer(text):
            target = match["target"]
            if not target.startswith(("http://", "https://", "mailto:")):
                links.append((page.name, target))
    return links


@pytest.mark.parametrize(("page", "target"), _links())
def test_relative_link_resolves(page: str, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    path = (DOCS / path_part).resolve() if path_part else DOCS / page
    assert path.exists(), f"{page}: broken link {target}"
    if anchor and path.suffix == ".md":
        assert anchor in _anchors(path), f"{page}: no anchor #{anchor} in {path.name}"


def test_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        if page.name != "README.md":
            assert f"]({page.name})" in index, page.name


def _env_names(model: type, prefix: str) -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        annotation = field.annotation
        if name == "gateway":
            names += _env_names(GatewaySettings, f"{prefix}GATEWAY__")
        elif name == "kafka":
            names += [f"{prefix}KAFKA__{sub.upper()}" for sub in annotation.model_fields]
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_operations_lists_every_setting() -> None:
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    for env in _env_names(Settings, "KBRIDGE_"):
        assert f"`{env}`" in text, env


def test_operations_lists_every_metric() -> None:
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    names: set[str] = set()
    for path in (ROOT / "processor").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "prometheus_client" not in source:
            continue
        names.update(
            re.findall(r"(?:Counter|Gauge|Histogram|Summary)\(\s*\"(kbridge_[a-z_]+)\"", source)
        )
    assert len(names) >= 10
    for name in sorted(names):
        assert f"`{name}" in text, name
