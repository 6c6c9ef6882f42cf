"""Justice as the tests see it: the shipped adapter, its agency codes, the simulator's sample PDF, and
the dossiers the one-stop desk sends (lienthong.devtools.justice_samples, shared with the demo)."""

from __future__ import annotations

from typing import Final

from project_support import ROOT, AdapterSource

from lienthong.devtools.justice_samples import (
    BIRTH,
    DEATH,
    HOSO_NS,
    HOTICH_NS,
    LLTP,
    LLTP_NS,
    birth_dossier,
    death_dossier,
    lltp_dossier,
)

__all__ = [
    "BIRTH",
    "DEATH",
    "HOSO_NS",
    "HOTICH_NS",
    "JUSTICE",
    "JUSTICE_ADAPTER",
    "LLTP",
    "LLTP_NS",
    "PROVINCE",
    "SAMPLE_PDF",
    "birth_dossier",
    "death_dossier",
    "lltp_dossier",
]

JUSTICE: Final = "000.00.00.G15"
PROVINCE: Final = "000.00.00.H49"
#: The justice adapter as the repository ships it.
JUSTICE_ADAPTER: Final = AdapterSource("justice", ROOT)
SAMPLE_PDF: Final = ROOT / "mappings" / "justice" / "simulator" / "phieu-lltp-mau.pdf"
