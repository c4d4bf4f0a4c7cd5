"""The study's plan: compute-matched steps, the grid, slices, and bad input caught early."""

import os

import pytest

from bertlab.study import main, plan, spec
from bertlab.training import flops as flops_lib
from bertlab.training.config import encoder_config
from study_toy import toy_study


@pytest.fixture
def study(tmp_path, sst2_config):
  return toy_study(tmp_path, sst2_config)


def test_steps_are_budget_over_step_flops(study):
  study.arms.spanbert = dict(family="spanbert")
  study.pretrain.fractions = (0.25, 0.5, 1.0)
  study.pretrain.budget_flops = 1e11
  plans = plan.arm_plans(study)
  for name in ("bert", "electra", "spanbert"):
    c = plan.pretrain_config(study, name, 0, "/tmp/x")
    gen = encoder_config(c.generator, "g") if c.family == "electra" else None
    per_step = flops_lib.train_step_flops(c.family, encoder_config(c.model, "m"), 8, 32, 5, gen)
    p = plans[name]
    assert p.flops_per_step == per_step
    # Rounded down to a multiple of 4 so that 1/4 and 1/2 fall on whole steps, and by at most
    # 1 % more to find a checkpoint interval dividing every fraction's step.
    raw = int(1e11 // per_step)
    assert p.steps % 4 == 0 and 0.99 * raw - 4 <= p.steps <= raw
    assert p.checkpoints == (p.steps // 4, p.steps // 2, p.steps)
    assert all(s % p.checkpoint_every == 0 for s in p.checkpoints)
  # ELECTRA pays for its generator, SpanBERT for SBO: both step dearer than... the same encoder
  # without them, so the same budget buys them fewer steps than per-step FLOPs alone of BERT's
  # encoder forward would.
  enc = plan.encoder(study)
  encoder_only = 3 * flops_lib.encoder_forward_flops(enc, 8, 32)
  assert plans["electra"].flops_per_step > encoder_only
  assert plans["spanbert"].flops_per_step > plans["bert"].flops_per_step


def test_checkpoint_interval():
  fracs = (0.25, 0.5, 1.0)
  # 310,822 = 2 x 23 x 29 x 233: its largest divisor up to 25,000 is 2 x 29 x 233 = 13,514.
  assert plan._steps_and_interval(1_243_288, fracs, 4, 25_000) == (1_243_288, 13_514)
  # 1,001 x 4 steps: 1,001 = 7 x 11 x 13 has no divisor in (500, 1000]; 1,000 x 4 has 1,000.
  assert plan._steps_and_interval(4_004, fracs, 4, 1_000) == (4_000, 1_000)
  assert plan._steps_and_interval(8, fracs, 4, 1_000) == (8, 2)


def test_every_arm_shares_encoder_corpus_and_tokenizer(study, tmp_path):
  configs = {n: plan.pretrain_config(study, n, 0, str(tmp_path)) for n in ("bert", "electra")}
  bert, electra = configs["bert"], configs["electra"]
  for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "vocab_size"):
    assert bert.model[key] == electra.model[key]
  assert electra.generator.hidden_size == bert.model.hidden_size // 4  # ELECTRA T6
  assert bert.data.tokenizer_dir == electra.data.tokenizer_dir == str(tmp_path / "tokenizer")
  assert bert.data.corpus == electra.data.corpus and bert.data.tokenizer == "wordpiece" == (
      electra.data.tokenizer)


def test_grid_and_slices(study):
  study.finetune.seeds = (0, 1, 2)
  study.pretrain.seeds = (0, 1)
  plans = plan.arm_plans(study)
  grid = plan.cells(study, plans)
  # 2 arms x 2 seeds x 2 fractions x 1 task x 3 seeds + random 2 x 1 x 1 x 3.
  assert len(grid) == 2 * 2 * 2 * 3 + 2 * 3
  assert len({c.id for c in grid}) == len(grid)
  for n in (1, 2, 3, 5, 8):
    parts = [plan.take_slice(grid, i, n) for i in range(1, n + 1)]
    ids = [c.id for part in parts for c in part]
    assert sorted(ids) == sorted(c.id for c in grid)  # each cell in exactly one slice
    assert parts == [plan.take_slice(grid, i, n) for i in range(1, n + 1)]  # deterministic
  # With as many slices as runs (arm, pretraining seed), each run's cells stay in one slice.
  n_runs = len({(c.arm, c.pretrain_seed) for c in grid})
  assert n_runs == 6
  parts = [plan.take_slice(grid, i, n_runs) for i in range(1, n_runs + 1)]
  runs = [{(c.arm, c.pretrain_seed) for c in part} for part in parts]
  assert all(len(r) == 1 for r in runs)
  for bad in ("0/2", "3/2", "x", "1/0"):
    with pytest.raises(ValueError, match="--cells"):
      plan.parse_slice(bad)


def test_only_selects_cells_and_keeps_the_floor(study, tmp_path):
  study.finetune.seeds = (0, 1, 2)
  grid = plan.cells(study, plan.arm_plans(study))
  top = max(c.fraction for c in grid)
  got = plan.select(grid, f"fraction={top:g} finetune_seed=0,2")
  assert [c.id for c in got] == [c.id for c in grid  # grid order; random arm kept
                                 if (c.fraction == top or c.step == 0) and c.finetune_seed != 1]
  assert {c.arm for c in got} == {c.arm for c in grid}
  assert plan.select(grid, "") == grid
  assert {c.arm for c in plan.select(grid, "arm=random")} == {"random"}
  for bad, match in (("epoch=1", "KEY one of"), ("fraction", "KEY one of"),
                     ("fraction=half", "float"), ("task=squad", "the grid has")):
    with pytest.raises(ValueError, match=match):
      plan.select(grid, bad)
  with pytest.raises(ValueError, match="--only"):  # before anything is written
    main.run(study, str(tmp_path / "w"), only="task=squad", echo=lambda m: None)
  assert not os.path.exists(tmp_path / "w")


def _fails_before_training(study, workdir, error, match):
  with pytest.raises(error, match=match):
    main.run(study, str(workdir), echo=lambda m: None)
  assert not os.path.exists(workdir)  # nothing written, nothing trained


def test_unknown_family_is_an_error(study, tmp_path):
  study.arms.xlnet = dict(family="xlnet")
  _fails_before_training(study, tmp_path / "w", ValueError, r"arms\.xlnet\.family.*'xlnet'")


def test_missing_task_file_is_an_error(study, tmp_path):
  study.tasks.sst2.overrides.train_file = str(tmp_path / "nope.tsv")
  _fails_before_training(study, tmp_path / "w", FileNotFoundError, r"nope\.tsv.*does not exist")


def test_budget_below_one_step_is_an_error(study, tmp_path):
  study.pretrain.budget_flops = plan.arm_plans(study)["electra"].flops_per_step * 0.5
  _fails_before_training(study, tmp_path / "w", ValueError, r"budget_flops.*Raise the budget")


def test_unknown_keys_are_errors(study, tmp_path):
  study.arms.bert.overrides = dict(data=dict(packnig=True))
  _fails_before_training(study, tmp_path / "w", ValueError, r"packnig.*did you mean")
  study.arms.bert.overrides = dict()
  study.tasks.sst2.overrides.lr = 1.0
  _fails_before_training(study, tmp_path / "w", ValueError, r"lr.*learning_rate")


def test_cpu_and_base_configs_plan(sst2_config):
  import importlib.util
  configs = os.path.dirname(os.path.dirname(sst2_config))
  for name in ("objectives_cpu", "objectives_base"):
    path = os.path.join(configs, "study", f"{name}.py")
    s = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(s)
    s.loader.exec_module(module)
    c = module.get_config()
    plans = plan.arm_plans(c)  # no data read: the steps follow from the config alone
    families = {p.family for p in plans.values()}
    assert families == {"bert", "albert", "roberta", "electra", "spanbert", None}
    budget = c.pretrain.budget_flops
    for p in plans.values():
      if p.family is not None:
        assert 0.95 * budget < p.steps * p.flops_per_step <= budget


def test_phases_are_refused(study, tmp_path):
  study.arms.bert.overrides = dict(phases=dict(fraction=(0.5, 0.5), max_seq_len=(16, 32),
                                               max_predictions=(3, 5)))
  _fails_before_training(study, tmp_path / "w", ValueError, r"phases: an arm trains one phase")


def test_budget_pilot_config_is_the_cpu_bert_arm_at_four_times_the_budget(sst2_config):
  import importlib.util
  path = os.path.join(os.path.dirname(os.path.dirname(sst2_config)), "study",
                      "budget_pilot_cpu.py")
  s = importlib.util.spec_from_file_location("budget_pilot_cpu", path)
  module = importlib.util.module_from_spec(s)
  s.loader.exec_module(module)
  plans = plan.arm_plans(module.get_config())
  assert {n: p.family for n, p in plans.items()} == {"bert": "bert", "random": None}
  # 4 x the CPU study's 2,400 steps; its first checkpoint is the CPU study's budget.
  assert plans["bert"].steps == 9600 and plans["bert"].checkpoints == (2400, 4800, 9600)
