"""Does an ELECTRA discriminator read context? Figures from a pretraining run's checkpoints.

  python benchmarks/rtd_diagnostics.py --workdir runs/grid/pretrain/electra-p0 \
      --steps 3904,8784 --json runs/bench/rtd.json

On the run's own held-out batches (train.py's evaluation batches and masks), each checkpoint's
generator samples the replacements and its discriminator scores every real token:

  auc               P(a replaced token scores above an original one), as `eval_rtd_auc`.
  within_token_auc  the same, counting only pairs of the same token id: a discriminator that
                    judges a token by its identity alone (rare tokens are suspicious) scores
                    exactly 0.5, however high its `auc`; above 0.5 it uses the context.
  neighbour_shift   mean |change of the logit| at distance 1-3 and 4+ from a position set to
                    [MASK] (and at the position itself): how far one token moves the others.
  caught / missed   the replaced tokens most often scored above / below logit 0.
  reader_*          with --reader (a masked-LM run on the same tokenizer, e.g. the BERT arm of
                    a study): the same two AUCs for the score -log p(token | the corrupted
                    sequence, nothing masked) of that model's MLM head, on the same
                    replacements: what reading the context gives, by a model never trained
                    on RTD.

The generator's samples use a fixed key per evaluation batch, so two checkpoints (or two runs
on the same data) are judged on comparable inputs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # figures_out

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
from figures_out import show_and_save  # noqa: E402
from scipy import stats  # noqa: E402

PROBES = (16, 48, 80, 112)  # positions set to [MASK] for neighbour_shift (those inside the row)


def within_group_auc(scores, groups, positive) -> float:
  """Mann-Whitney AUC over the (positive, negative) pairs that share a group (ties: 1/2);
  0.5 when no group holds both."""
  scores, groups, positive = (np.asarray(a).reshape(-1) for a in (scores, groups, positive))
  positive = positive.astype(bool)
  wins = pairs = 0.0
  order = np.argsort(groups, kind="stable")
  bounds = np.flatnonzero(np.diff(groups[order])) + 1
  for idx in np.split(order, bounds):
    p = positive[idx]
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    if n_pos and n_neg:
      ranks = stats.rankdata(scores[idx])  # average ranks: a tie counts one half
      wins += ranks[p].sum() - n_pos * (n_pos + 1) / 2
      pairs += n_pos * n_neg
  return wins / pairs if pairs else 0.5


def _forward(model, params):
  from bertlab.objectives import losses
  from bertlab.objectives.electra import corrupt

  def fn(params, batch, key, probe):
    def f(m):
      ids, mask, types = batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")
      g = m.generator_logits(ids, mask, types, batch["mlm_positions"], True)
      sample = losses.gumbel_max_sample(key, g, m.temperature)
      fake, replaced = corrupt(ids, batch["mlm_positions"], batch["mlm_weights"], sample,
                               batch["mlm_ids"])
      d = m.discriminator_logits(fake, mask, types, True)
      d_probe = m.discriminator_logits(probe(fake), mask, types, True)
      return fake, replaced, d, d_probe
    return model.apply({"params": params}, method=f)
  return jax.jit(fn, static_argnums=3)


def _reader(workdir: str, fingerprint: str):
  """-log p(observed token) at every position, by the MLM head of the run in `workdir`."""
  from bertlab.convert.workdir import bundle_from_workdir
  from bertlab.data.tokenizers import Tokenizer

  bundle = bundle_from_workdir(workdir)
  if not hasattr(bundle.model, "logits"):
    raise ValueError(f"--reader {workdir}: a {bundle.family} run has no masked-LM head to read "
                     "with; give a bert, albert, roberta or spanbert run")
  tok_dir = bundle.tokenizer_dir
  if tok_dir is None or Tokenizer.load(tok_dir).fingerprint() != fingerprint:
    raise ValueError(f"--reader {workdir}: its tokenizer is not the ELECTRA run's, so its "
                     "token ids mean other tokens")

  @jax.jit
  def surprise(params, ids, mask, types):
    logits = bundle.model.apply({"params": params}, ids, mask, types, None, True,
                                method=lambda m, *a: m.logits(*a))["mlm"]
    logp = jax.nn.log_softmax(logits.astype(jax.numpy.float32), axis=-1)
    return -jax.numpy.take_along_axis(logp, ids[..., None], axis=-1)[..., 0]
  def read(ids, batch):
    return surprise(bundle.params, ids, batch["attention_mask"], batch.get("token_type_ids"))
  return read, _step(bundle)


def _step(bundle) -> int:
  """The checkpoint step a pretraining bundle was restored from ("WORKDIR step N")."""
  return int(bundle.source.rsplit(" step ", 1)[1])


def diagnose(workdir: str, step: int | None = None, batches: int | None = None,
             reader: str | None = None) -> dict:
  from bertlab import train
  from bertlab.convert.workdir import bundle_from_workdir

  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: --workdir takes a train.py pretraining workdir")
  with open(path, encoding="utf-8") as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.family != "electra":
    raise ValueError(f"{workdir} is a {config.family} run; these figures are ELECTRA's")
  bundle = bundle_from_workdir(workdir, step)
  tokenizer, _, evals = train.build_data(config, workdir)
  evals = evals[:batches] if batches else evals
  if not evals:
    raise ValueError(f"{workdir}: the run has no held-out batches (eval_batches = 0)")
  seq = evals[0]["input_ids"].shape[1]
  probes = tuple(p for p in PROBES if p < seq) or (seq // 2,)
  mask_id = tokenizer.mask_id

  def probe(ids):
    return ids.at[:, list(probes)].set(mask_id)

  fwd = _forward(bundle.model, bundle.params)
  read, read_step = _reader(reader, tokenizer.fingerprint()) if reader else (None, None)
  scores, labels, tokens, read_scores = [], [], [], []
  shift = collections.defaultdict(list)
  caught, missed = collections.Counter(), collections.Counter()
  for i, batch in enumerate(evals):
    fake, replaced, d, d_probe = map(np.asarray, fwd(bundle.params, batch, jax.random.PRNGKey(i),
                                                      probe))
    real = np.asarray(batch["attention_mask"]) > 0
    scores.append(d[real]), labels.append(replaced[real]), tokens.append(fake[real])
    if read:
      read_scores.append(np.asarray(read(fake, batch))[real])
    for t, y, s in zip(fake[real], replaced[real], d[real]):
      if y:
        (caught if s > 0 else missed)[int(t)] += 1
    delta = np.abs(d_probe - d)
    for p in probes:
      for j in np.flatnonzero(real[:, p]):  # rows in which the probe is a real token
        dist = np.abs(np.arange(seq) - p)
        ok = real[j]
        shift["self"].append(delta[j, p])
        shift["1-3"].extend(delta[j, ok & (dist >= 1) & (dist <= 3)])
        shift["4+"].extend(delta[j, ok & (dist >= 4)])
  s, y, t = (np.concatenate(a) for a in (scores, labels, tokens))
  pos = y.astype(bool)
  auc = within_group_auc(s, np.zeros_like(t), pos)
  name = tokenizer.id_to_token
  out = {
      "workdir": workdir, "step": _step(bundle),
      "tokens": int(len(s)), "replaced_fraction": float(pos.mean()),
      "auc": float(auc), "within_token_auc": float(within_group_auc(s, t, pos)),
      "logit_mean_original": float(s[~pos].mean()),
      "logit_mean_replaced": float(s[pos].mean()) if pos.any() else None,
      "neighbour_shift": {k: float(np.mean(v)) for k, v in shift.items()},
      "caught": [[name(k), n] for k, n in caught.most_common(10)],
      "missed": [[name(k), n] for k, n in missed.most_common(10)],
  }
  if read:
    r = np.concatenate(read_scores)
    out.update(reader=reader, reader_step=read_step,
               reader_auc=float(within_group_auc(r, np.zeros_like(t), pos)),
               reader_within_token_auc=float(within_group_auc(r, t, pos)))
  return out


def table(rows: list[dict]) -> str:
  head = ("| run | step | AUC | within-token AUC | shift self / 1-3 / 4+ | caught most | "
          "missed most | reader AUC / within-token |\n|---|---|---|---|---|---|---|---|")
  lines = [head]
  for r in rows:
    sh = r["neighbour_shift"]
    lines.append(
        f"| {os.path.basename(r['workdir'].rstrip('/'))} | {r['step']} | {r['auc']:.3f} | "
        f"{r['within_token_auc']:.3f} | {sh['self']:.3f} / {sh['1-3']:.4f} / {sh['4+']:.4f} | "
        f"{' '.join(t for t, _ in r['caught'][:5])} | {' '.join(t for t, _ in r['missed'][:5])} | "
        + (f"{r['reader_auc']:.3f} / {r['reader_within_token_auc']:.3f} |" if "reader_auc" in r
           else "– |"))
  return "\n".join(lines)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--workdir", action="append", required=True,
                  help="an ELECTRA pretraining workdir (repeat to compare runs)")
  ap.add_argument("--steps", default="", help="checkpoint steps, comma-separated (default: last)")
  ap.add_argument("--batches", type=int, default=None, help="held-out batches (default: all)")
  ap.add_argument("--reader", default=None,
                  help="a masked-LM pretraining workdir on the same tokenizer: its MLM head's "
                       "surprise at each token, judged on the same replacements")
  ap.add_argument("--json", default="", help="write the figures here")
  a = ap.parse_args(argv)
  steps = [int(x) for x in a.steps.split(",") if x] or [None]
  rows = [diagnose(w, s, a.batches, a.reader) for w in a.workdir for s in steps]
  show_and_save(table(rows), rows, a.json)


if __name__ == "__main__":
  main()
