import os
import shutil
import time
from pathlib import Path

import dagster as dg

from dream_assets.defs.documents.sensors import new_document_sensor
from resources.pdf_source import PdfSource

PDFS = Path(__file__).resolve().parent.parent / "data" / "demo" / "squad" / "pdfs"


def _tick(instance, source, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"pdf_source": source})
    result = new_document_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_sensor_requests_each_document_once_per_version(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    source = PdfSource(uri=str(folder))
    with dg.instance_for_test() as instance:
        assert _tick(instance, source, None).run_requests == []
        for name in ("Normans.pdf", "Force.pdf"):
            shutil.copy(PDFS / name, folder / name)
        first = _tick(instance, source, None)
        assert sorted(r.partition_key for r in first.run_requests) == ["force", "normans"]
        assert set(instance.get_dynamic_partitions("documents")) == {"force", "normans"}

        again = _tick(instance, source, first.cursor)
        assert again.run_requests == []

        time.sleep(0.01)
        shutil.copy(PDFS / "Warsaw.pdf", folder / "Normans.pdf")  # overwritten with new content
        os.utime(folder / "Normans.pdf")
        changed = _tick(instance, source, again.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["normans"]
        assert changed.run_requests[0].run_key != first.run_requests[1].run_key

        (folder / "Force.pdf").unlink()
        after_delete = _tick(instance, source, changed.cursor)
        assert after_delete.run_requests == []
        assert "force" not in after_delete.cursor
