"""First start: install the bundled sample log as the default dataset, and the example
journey map linked to it, once per workspace."""
from __future__ import annotations

from pathlib import Path

from cxdata.store.workspace import DatasetInfo, Workspace

# In a checkout sample_data/ is beside cxdata/; an installed package carries it in cxdata/_app/.
_HERE = Path(__file__).resolve().parent
SAMPLE_FILE = next((d / "sample_data" / "interactions.csv" for d in (_HERE.parent, _HERE / "_app")
                    if (d / "sample_data" / "interactions.csv").exists()),
                   _HERE.parent / "sample_data" / "interactions.csv")
SAMPLE_NAME = "Sample: online retail journeys"
_SETTING = "sample_installed"


def install_sample_once(ws: Workspace, sample_file: Path = SAMPLE_FILE) -> DatasetInfo | None:
    """Ingest the sample log the first time a workspace is opened.

    Returns the new dataset, or None when it was installed before (a user who deleted
    it does not get it back uninvited) or the file is missing.
    """
    if ws.read_only or ws.get_setting(_SETTING) or not sample_file.exists():
        return None
    if ws.has_dataset(SAMPLE_NAME):
        ws.set_setting(_SETTING, "yes")
        return None
    _, info = ws.ingest(sample_file, SAMPLE_NAME, source="bundled sample (sample_data/interactions.csv)")
    ws.prepare_views(SAMPLE_NAME)
    ws.set_setting(_SETTING, "yes")
    ws.set_setting("default_dataset", SAMPLE_NAME)
    # The example journey map is linked to the sample, so a first start has a map to show.
    from cxdata.store import map_store
    map_store.install_example_maps(ws.cursor(), sample_file.parent / "maps")
    return info


def reinstall_sample(ws: Workspace, sample_file: Path = SAMPLE_FILE) -> DatasetInfo:
    """Install (or replace) the sample dataset on request."""
    _, info = ws.ingest(sample_file, SAMPLE_NAME, replace=True,
                        source="bundled sample (sample_data/interactions.csv)")
    ws.prepare_views(SAMPLE_NAME)
    ws.set_setting(_SETTING, "yes")
    return info
