"""Distil a teacher into a smaller student (see bertlab/compress/distill_run.py):

  python distill.py --config configs/distill/sst2_tiny.py --workdir runs/sst2_student \
      --config.teacher=runs/sst2
"""

import sys

from bertlab.compress.distill_run import main

if __name__ == "__main__":
  sys.exit(main())
