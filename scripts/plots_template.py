#!/usr/bin/env python
"""Write .dvc/offline_plots.html, the page template `dvc plots show` and `dvc plots diff` fill
(.dvc/config: plots.html_template), with the Vega scripts inlined so the plots render offline.
Re-run after upgrading vl-convert-python; commit the file.

    .venv/bin/python scripts/plots_template.py
"""

from __future__ import annotations

from pathlib import Path

from evokd.charts import OFFLINE_TEMPLATE, offline_plots_template
from evokd.io import atomic_write_text

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    atomic_write_text(root / OFFLINE_TEMPLATE, offline_plots_template())
    print(f"wrote {OFFLINE_TEMPLATE} ({(root / OFFLINE_TEMPLATE).stat().st_size} bytes)")
