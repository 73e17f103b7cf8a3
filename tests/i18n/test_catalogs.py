"""Every string a person reads is in the catalogs and translated into zh-CN (API.md §14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from mailer.config import ROOT

CATALOGS = Path(ROOT) / "translations"


def _extracted(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def _catalog(locale: str) -> dict[str, object]:
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return {(m.id if isinstance(m.id, str) else m.id[0]): m for m in read_po(f) if m.id}


def test_every_extracted_string_is_in_both_catalogs(tmp_path: Path) -> None:
    """A string added to the code or a template without `make i18n-update` fails here."""
    extracted = _extracted(tmp_path)
    for locale in ("en", "zh_CN"):
        missing = sorted(extracted - set(_catalog(locale)))
        assert not missing, f"not in the {locale} catalog (run make i18n-update): {missing[:10]}"


def test_every_zh_cn_string_is_translated_and_not_fuzzy(tmp_path: Path) -> None:
    """zh-CN readers never see an English fallback: no empty or fuzzy entry."""
    extracted = _extracted(tmp_path)
    catalog = _catalog("zh_CN")
    untranslated = []
    for msgid in extracted:
        message = catalog.get(msgid)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)  # type: ignore[union-attr]
        if message is None or message.fuzzy or not all(strings):  # type: ignore[union-attr]
            untranslated.append(msgid)
    assert not untranslated, f"untranslated or fuzzy in zh_CN: {sorted(untranslated)[:10]}"
