"""Every test and the processes it starts compute on this host's CPU: with the `tpu` extra
installed (for the ahead-of-time compile tests), JAX would otherwise probe for TPU chips first
at each start (seconds, and a page of warnings) and hold libtpu's lock file."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
