"""Compute-matched study of the pretraining objectives (see bertlab/study/main.py):

  python study.py --config configs/study/objectives_cpu.py --workdir runs/study [--cells=i/N]
"""

import sys

from bertlab.study.main import main

if __name__ == "__main__":
  sys.exit(main())
