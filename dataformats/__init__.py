"""Labelled data: one record type (:mod:`dataformats.records`) and one adapter per layout users bring
(:mod:`dataformats.formats`)."""
from .formats import FOLDER_FORMATS, FolderFormat, read_labels  # noqa: F401
from .records import Record, list_videos, parse_label, read_path_list  # noqa: F401
