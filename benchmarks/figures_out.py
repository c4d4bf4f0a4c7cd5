"""The diagnostics scripts' output: their table printed, their figures as JSON (local or gs://)."""

import os


def show_and_save(table: str, rows: list[dict], json_path: str = "") -> None:
  print(table)
  if json_path:
    from bertlab.storage import files

    files.makedirs(os.path.dirname(json_path) or ".")
    files.write_json(json_path, rows)
