"""Fine-tune on a task (see bertlab/finetune.py):

  python finetune.py --config configs/finetune/sst2.py --workdir runs/sst2 --config.init_from=PATH
"""

import sys

from bertlab.finetune import main

if __name__ == "__main__":
  sys.exit(main())
