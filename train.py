"""Pretrain a BERT-family model: python train.py --config configs/tiny/electra.py --workdir runs/x"""

import sys

from bertlab.train import main

if __name__ == "__main__":
  sys.exit(main())
