"""One "host" of tests/data/test_prepare.py: jax.distributed on localhost, prepares its shard
cooperatively, then writes the examples it sees (all of the union) to OUT/seen-<i>.npz."""

import json
import sys

import jax
import numpy as np


def main(port, n, i, opts_json, path, out):
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=int(n),
                             process_id=int(i))
  from jax.experimental import multihost_utils

  from bertlab.data import prepared

  data = prepared.prepare_cooperatively(
      json.loads(opts_json), path, process_index=jax.process_index(),
      process_count=jax.process_count(),
      barrier=lambda: multihost_utils.sync_global_devices("prepared"))
  ids = np.stack([data.examples[k]["input_ids"] for k in range(len(data.examples))])
  np.savez(f"{out}/seen-{i}.npz", ids=ids, data=data.fingerprints["data"])


if __name__ == "__main__":
  main(*sys.argv[1:])
