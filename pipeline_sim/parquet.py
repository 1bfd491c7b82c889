"""Parquet files as the project writes them: zstd, dictionaries for categories and flags, delta
encoding for integer ids (which change little from row to row). Readers need nothing special."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def system_allocator() -> None:
    """Let Arrow allocate with the C library's malloc, unless the user chose a pool with
    ARROW_DEFAULT_MEMORY_POOL. Arrow's own pool (mimalloc) keeps what the yearly writes of events
    and rosters free, and a national run then peaked 70 MB higher (633 against 562 MB); malloc
    reuses it. The setting is Arrow's, for the whole process."""
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())


def options(schema: pa.Schema) -> dict:
    """Writer options for a table of this schema."""
    dictionary, delta = [], {}
    for field in schema:
        t = field.type
        if (
            pa.types.is_dictionary(t)
            or pa.types.is_boolean(t)
            or pa.types.is_int8(t)
            or pa.types.is_string(t)
        ):
            dictionary.append(field.name)
        elif pa.types.is_int32(t) or pa.types.is_int64(t):
            delta[field.name] = "DELTA_BINARY_PACKED"
    return {
        "compression": "zstd",
        "compression_level": 6,
        "use_dictionary": dictionary,
        "column_encoding": delta,
    }


def write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, **options(table.schema))


def writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(path, schema, **options(schema))


def write_frame(frame, path: Path) -> None:
    """A pandas frame, with its index left out."""
    write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
