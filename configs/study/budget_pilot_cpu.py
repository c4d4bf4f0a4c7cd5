"""From which budget does pretraining beat random init on the CPU study's tasks?

  python study.py --config configs/study/budget_pilot_cpu.py --workdir runs/study_x4

The CPU study (objectives_cpu.py) with its BERT arm only (and the random floor), at 4x its
first budget: 9,600 steps of L 4, H 128, batch 32 x 128 (~80 min on 2 cores), checkpoints at
1/4, 1/2 and 1 of it, so the cells at 2,400 steps repeat that first budget, where the encoders
were still on the MLM plateau (benchmarks/STUDY.md). The pilot's rows were not packed and its
cells used one fine-tuning rate; the CPU study has since taken its budget, with both changes.
"""

import importlib.util
import os


def _cpu_study():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "objectives_cpu.py")
  spec = importlib.util.spec_from_file_location("objectives_cpu", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config():
  c = _cpu_study()
  for arm in [a for a in c.arms if a != "bert"]:
    del c.arms[arm]
  # As it ran (before the CPU study took this budget and packing): the BERT arm's rows unpacked.
  c.arms.bert.overrides.data.packing = False
  assert c.pretrain.budget_flops == 9600 * 2.664e10   # 4 x the CPU study's first budget
  c.pretrain.fractions = (0.25, 0.5, 1.0)
  c.finetune.learning_rates = ()  # its cells ran at the one rate 1e-3 (before selection)
  return c
