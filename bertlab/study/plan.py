"""From a study config to work: each arm's pretraining config and step count, and the grid.

Compute matching: an arm trains for floor(budget / its train-step FLOPs) steps
(`training.flops.train_step_flops`: ELECTRA pays for its generator, SpanBERT for SBO), rounded
down so that every budget fraction falls on a whole checkpoint step. A cell is one
(arm, pretraining seed, fraction, task, fine-tuning seed); its id names its directory.
"""

from __future__ import annotations

import dataclasses
import fractions as fractions_lib
import math
import os

import ml_collections

from bertlab.encoder import EncoderConfig
from bertlab.study import spec
from bertlab.training import config as pre_config
from bertlab.training import flops as flops_lib


@dataclasses.dataclass(frozen=True)
class ArmPlan:
  """An arm's pretraining: `steps` in all, `checkpoints` (step per budget fraction),
  `flops_per_step`, `checkpoint_every` (divides every fraction's step); `family` None for the
  random-init arm (no pretraining)."""
  name: str
  family: str | None
  steps: int
  checkpoints: tuple[int, ...]
  flops_per_step: float
  checkpoint_every: int = 1


@dataclasses.dataclass(frozen=True)
class Cell:
  arm: str
  pretrain_seed: int
  fraction: float        # 0 for the random-init arm
  step: int              # the pretraining checkpoint fine-tuned from (0: random init)
  task: str
  finetune_seed: int

  @property
  def id(self) -> str:
    return (f"{self.arm}/p{self.pretrain_seed}/frac{self.fraction:g}/{self.task}/"
            f"f{self.finetune_seed}")


def encoder(study) -> EncoderConfig:
  """The encoder every arm shares: BERT's layer, E = H, no sharing, no position offset."""
  e = study.encoder
  return EncoderConfig(vocab_size=e.vocab_size, hidden_size=e.hidden_size,
                       num_layers=e.num_layers, num_heads=e.num_heads,
                       intermediate_size=e.intermediate_size,
                       max_position_embeddings=e.max_seq_len, hidden_dropout=e.hidden_dropout,
                       attention_dropout=e.attention_dropout)


def _section(cfg: EncoderConfig) -> ml_collections.ConfigDict:
  d = dataclasses.asdict(cfg)
  d["embedding_size"] = d["embedding_size"] or 0
  if d["scan_layers"] is None:
    d["scan_layers"] = ml_collections.config_dict.placeholder(bool)
  return ml_collections.ConfigDict(d)


def pretrain_config(study, arm: str, seed: int, workdir: str, steps: int = 1,
                    checkpoint_every: int = 1) -> ml_collections.ConfigDict:
  """The pretraining config of `arm` (an arms entry, or the random arm: BERT's layout)."""
  entry = spec.arms(study).get(arm)
  family = entry.family if entry is not None else "bert"
  c = pre_config.pretrain_config(family, "electra-small" if family == "electra" else "bert-tiny")
  enc = encoder(study)
  if family == "electra":
    # ELECTRA's fine-tuning reads the [CLS] state: its encoder has no tanh pooler.
    enc = enc.replace(use_pooler=False)
    f = study.generator_fraction
    gen = enc.replace(hidden_size=max(int(enc.hidden_size * f), 1),
                      intermediate_size=max(int(enc.intermediate_size * f), 1),
                      num_heads=max(int(enc.num_heads * f), 1), embedding_size=enc.embed_dim)
    c.generator = _section(gen)
  c.model = _section(enc)
  workdir = os.path.abspath(workdir)
  d = c.data
  d.corpus, d.one_doc_per_line = study.corpus, study.one_doc_per_line
  d.tokenizer, d.lowercase, d.vocab_size = study.tokenizer, study.lowercase, enc.vocab_size
  d.tokenizer_dir = os.path.join(workdir, "tokenizer")
  d.cache_dir = os.path.join(workdir, "cache")
  d.max_seq_len = study.encoder.max_seq_len
  p = study.pretrain
  c.objective.max_predictions = p.max_predictions
  c.batch_size, c.seed, c.total_steps = p.batch_size, seed, steps
  c.optimizer.learning_rate = p.learning_rate
  c.optimizer.warmup_steps = int(p.warmup_fraction * steps)
  c.checkpoint_every_steps = c.eval_every_steps = checkpoint_every
  # Every budget fraction is fine-tuned from, so none may be deleted (a `keep_period` in the
  # checkpointer would keep only those; it has none yet).
  c.keep_checkpoints = steps // checkpoint_every + 1
  c.log_every_steps = min(p.log_every_steps, steps)
  c.eval_batches = p.eval_batches
  c.progress_bar = False
  if entry is not None:
    spec.apply_overrides(c, entry.get("overrides"), f"study.arms.{arm}.overrides",
                         "pretrain_config()")
  return c


def arm_plans(study, workdir: str = "/tmp/study") -> dict[str, ArmPlan]:
  """Every arm's steps and checkpoints; ValueError if the budget cannot pay for them."""
  fracs = [fractions_lib.Fraction(f).limit_denominator(1000) for f in study.pretrain.fractions]
  unit = math.lcm(*(f.denominator for f in fracs))  # steps must be a multiple of this
  plans = {}
  for name in spec.arms(study):
    c = pretrain_config(study, name, 0, workdir)
    if len(c.phases.fraction):
      raise ValueError(f"study.arms.{name}.overrides.phases: an arm trains one phase at "
                       f"encoder.max_seq_len (its FLOPs per step are counted at that length); "
                       f"found phases {tuple(c.phases.fraction)}. Remove them.")
    pre_config.validate(c)
    enc = pre_config.encoder_config(c.model, "model")
    gen = pre_config.encoder_config(c.generator, "generator") if c.family == "electra" else None
    per_step = flops_lib.train_step_flops(c.family, enc, c.batch_size, c.data.max_seq_len,
                                          c.objective.max_predictions, gen)
    steps = int(study.pretrain.budget_flops // per_step) // unit * unit
    if steps < unit:
      raise ValueError(
          f"study.pretrain.budget_flops: {study.pretrain.budget_flops:.3g} FLOPs buy arm "
          f"{name!r} ({c.family}) {study.pretrain.budget_flops / per_step:.2f} steps of "
          f"{per_step:.3g} FLOPs; the fractions {tuple(study.pretrain.fractions)} need at least "
          f"{unit} steps. Raise the budget to at least {unit * per_step:.3g}.")
    steps, every = _steps_and_interval(steps, fracs, unit, study.pretrain.checkpoint_every_steps)
    checkpoints = tuple(int(f * steps) for f in fracs)
    plans[name] = ArmPlan(name, c.family, steps, checkpoints, per_step, every)
  if study.random_init:
    plans[spec.RANDOM_ARM] = ArmPlan(spec.RANDOM_ARM, None, 0, (0,), 0.0)
  return plans


def _largest_divisor(n: int, at_most: int) -> int:
  best = 1
  for d in range(1, math.isqrt(n) + 1):
    if n % d == 0:
      best = max([best] + [x for x in (d, n // d) if x <= at_most])
  return best


def _steps_and_interval(steps: int, fracs, unit: int, every_max: int) -> tuple[int, int]:
  """(steps, checkpoint interval): the interval must divide every fraction's step (those are
  fine-tuned from) and be more than half of `every_max` (a killed run loses at most one
  interval; fewer checkpoints, less disk). Up to 1 % of the steps may be given up to find one:
  a step count whose fraction steps share only small divisors would checkpoint every few steps."""
  best = (0, steps)
  for n in range(steps, max(int(steps * 0.99), unit) - 1, -unit):
    every = _largest_divisor(math.gcd(*(int(f * n) for f in fracs)), every_max)
    if every > best[0]:
      best = (every, n)
    if every * 2 > every_max:
      break
  return best[1], best[0]


def cells(study, plans: dict[str, ArmPlan]) -> list[Cell]:
  """The whole grid in a fixed order: arm, pretraining seed, fraction, task, fine-tuning seed."""
  out = []
  task_names = list(spec.tasks(study))
  for name, plan in plans.items():
    fracs = (0.0,) if plan.family is None else tuple(study.pretrain.fractions)
    for p in study.pretrain.seeds:
      for frac, step in zip(fracs, plan.checkpoints):
        for task in task_names:
          for f in study.finetune.seeds:
            out.append(Cell(name, int(p), float(frac), int(step), task, int(f)))
  return out


def parse_slice(text: str) -> tuple[int, int]:
  """'i/N' -> (i, N), 1 <= i <= N."""
  try:
    i, n = (int(x) for x in text.split("/"))
  except ValueError:
    i = n = 0
  if not 1 <= i <= n:
    raise ValueError(f"--cells: expected i/N with 1 <= i <= N (e.g. 2/4); found {text!r}.")
  return i, n


_FIELDS = {"arm": str, "pretrain_seed": int, "fraction": float, "task": str,
           "finetune_seed": int}


def select(grid: list[Cell], text: str) -> list[Cell]:
  """The cells matching every condition of `text` ("" = all), in grid order. Conditions are
  space-separated KEY=V1,V2 on the fields of `Cell`, e.g. "fraction=1 task=sst2,cola": the
  largest budget first. The random arm has no fraction, so a fraction condition keeps it (it is
  the floor every selection is compared with); name it out with arm=..."""
  conditions = {}
  for part in text.split():
    key, eq, values = part.partition("=")
    if key not in _FIELDS or not eq or not values:
      raise ValueError(f"--only: expected KEY=V1,V2 ... with KEY one of {', '.join(_FIELDS)}; "
                       f"found {part!r}")
    try:
      conditions[key] = {_FIELDS[key](v) for v in values.split(",")}
    except ValueError:
      raise ValueError(f"--only: {key} takes {_FIELDS[key].__name__} values; found {values!r}"
                       ) from None
    known = {getattr(c, key) for c in grid if not (key == "fraction" and c.step == 0)}
    if not conditions[key] & known:
      raise ValueError(f"--only: no cell has {key} in {sorted(conditions[key])}; the grid has "
                       f"{sorted(known)}")

  def keep(c: Cell) -> bool:
    return all(getattr(c, k) in v or (k == "fraction" and c.step == 0)
               for k, v in conditions.items())

  return [c for c in grid if keep(c)]


def take_slice(grid: list[Cell], i: int, n: int) -> list[Cell]:
  """Slice i of n: the cells of the pretraining runs (arm, seed) numbered i-1 mod n, so a
  pretraining run is done by one slice only; if there are fewer runs than slices, the cells of
  each run are dealt round-robin instead (the run is then done by whichever slice gets there
  first, under a lock)."""
  runs = sorted({(c.arm, c.pretrain_seed) for c in grid},
                key=[(c.arm, c.pretrain_seed) for c in grid].index)
  if len(runs) >= n:
    mine = {r for k, r in enumerate(runs) if k % n == i - 1}
    return [c for c in grid if (c.arm, c.pretrain_seed) in mine]
  return [c for k, c in enumerate(grid) if k % n == i - 1]
