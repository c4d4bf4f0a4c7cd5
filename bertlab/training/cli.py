"""The command line every driver shares: --config FILE --workdir DIR [--config.KEY=VALUE ...].

A bad command line, or bad input found while running, ends the process with one `error: ...`
line (an unknown --config.KEY names the nearest valid key), never a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

from bertlab.training import config_keys, host_memory


def parse(argv, *, config_help: str, workdir_help: str, usage: str,
          define_extra: Callable | None = None):
  """absl FlagValues with `config` (locked ConfigDict) and `workdir`, or exit with one line.

  define_extra(flags_module, flag_values): defines any further flags of one driver.
  """
  from absl import flags
  from ml_collections import config_flags

  try:
    host_memory.retain_freed_memory()  # before JAX starts its threads
  except ValueError as e:
    sys.exit(f"error: {e}")
  fl = flags.FlagValues()
  # sys_argv: the overrides are read from `argv` too (by default config_flags reads them from
  # sys.argv, so a driver called as a function would refuse every --config.KEY it was given).
  config_flags.DEFINE_config_file("config", None, config_help, flag_values=fl, lock_config=True,
                                  sys_argv=list(argv))
  flags.DEFINE_string("workdir", None, workdir_help, flag_values=fl)
  if define_extra is not None:
    define_extra(flags, fl)
  try:
    fl(argv)
  except (AttributeError, KeyError, ValueError, flags.Error) as e:
    sys.exit("error: bad command line: " + explain_flag_error(e, argv))
  if fl.config is None or fl.workdir is None:
    sys.exit("usage: " + usage)
  return fl


def run_or_exit(fn, *args) -> int:
  """fn(*args); bad input (ValueError, KeyError, FileNotFoundError) exits with one line."""
  try:
    fn(*args)
  except (ValueError, KeyError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  return 0


def explain_flag_error(e, argv) -> str:
  """The flag parser's message, plus the nearest valid key for an unknown --config.KEY."""
  msg = str(e).replace("\\n", " ").replace("\n", " ").strip("'\" ")
  config_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if config_file is None and "--config" in argv[:-1]:
    config_file = argv[argv.index("--config") + 1]
  keys = [a[len("--config."):].split("=", 1)[0] for a in argv if a.startswith("--config.")]
  if config_file is None or not keys:
    return msg
  try:
    spec = importlib.util.spec_from_file_location("_cli_config", config_file.split(":")[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    known = dict(config_keys.walk(module.get_config()))
  except Exception:  # noqa: BLE001 - the parser's own message is still shown
    return msg
  for key in keys:
    if key not in known:
      return f"unknown config key {key!r}" + config_keys.nearest_key(key, known)
  return msg
