"""Exports of the store: JSONL (as collected), CSV (twarc-csv columns), Parquet (typed).

One module per format (``jsonl``, ``csvfile``, ``parquet``), the store reader they share
(``reader``), the column model of the tabular formats (``columns``, ``twarc``) and the
``hashwatch export`` command (``command``).
"""

from pipeline.exports.command import FORMATS, ExportResult, export_command, run_export
from pipeline.exports.reader import PostFilter

__all__ = ["FORMATS", "ExportResult", "PostFilter", "export_command", "run_export"]
