"""Where a run's files live: a local folder or an object store (`gs://...`) through etils.epath.

  files.py   path operations that work on both (exists, listdir, read/write, append logs)
  mirror.py  local copies of remote folders, for what must be a local file (memory maps)

The lowest layer: it imports nothing else of bertlab.
"""
