"""Fine-tuning wall time and entity F1: `bertlab.finetune` vs a plain transformers (PyTorch)
loop, on the same work, side by side in one process.

  python benchmarks/finetune_speed.py --conll ../shared/data/conll2003 --json runs/bench/ft.json

Work: a random-weight 6-layer, H 384 BERT directory (WordPiece vocabulary trained on the
training words, a tokenizer.json with Fixed padding stored, as hub directories have it), the
first --train sentences of CoNLL-2003 train.txt, --epochs epochs at batch 32, AdamW (lr
--lr, warmup 10 % then linear decay, weight decay 0.01 off biases and LayerNorms, clip 1.0),
dropout 0.1, max 128 tokens; then entity F1 on the first --eval sentences of valid.txt (both
scored by `bertlab.tasks.entity_metrics.entity_f1`, each word tagged by its first sub-token).

The transformers loop is what its token-classification example script does: tokenize words
with is_split_into_words, pad each batch to its longest row, torch.optim.AdamW +
get_linear_schedule_with_warmup. Wall times include tokenization, compilation and evaluation,
and are split into setup (loading, tokenization), compile (ours: every shape, before the first
step), steps (the training loop) and eval. torch uses as many threads as XLA's CPU thread pool
(the machine's cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

import hub_model  # noqa: E402  (beside this script)
import numpy as np  # noqa: E402


def transformers_loop(model_dir, train, dev, labels, args, seed: int = 0) -> dict:
  import torch
  import transformers as T

  from bertlab.tasks.entity_metrics import entity_f1

  t0 = time.perf_counter()
  torch.manual_seed(seed)
  tok = T.AutoTokenizer.from_pretrained(model_dir)
  model = T.BertForTokenClassification.from_pretrained(model_dir, num_labels=len(labels))
  label_id = {n: i for i, n in enumerate(labels)}

  def encode(sentences, with_labels):
    enc = tok([list(s.tokens) for s in sentences], is_split_into_words=True, truncation=True,
              max_length=128)
    rows = []
    for i, s in enumerate(sentences):
      words, seen, lab = enc.word_ids(i), set(), []
      for w in words:
        lab.append(-100 if w is None or w in seen else label_id[s.tags[w]])
        if w is not None:
          seen.add(w)
      rows.append((enc["input_ids"][i], enc["token_type_ids"][i], lab, words))
    return rows

  def collate(rows):
    n = max(len(r[0]) for r in rows)
    pad = lambda x, v: x + [v] * (n - len(x))
    return (torch.tensor([pad(r[0], tok.pad_token_id) for r in rows]),
            torch.tensor([pad([1] * len(r[0]), 0) for r in rows]),
            torch.tensor([pad(r[1], 0) for r in rows]),
            torch.tensor([pad(r[2], -100) for r in rows]))

  train_rows, dev_rows = encode(train, True), encode(dev, False)
  t_steps = time.perf_counter()
  steps = int(np.ceil(len(train_rows) / args.batch)) * args.epochs
  decay = [p for n, p in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
  rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
  opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                           {"params": rest, "weight_decay": 0.0}], lr=args.lr, eps=1e-6)
  sched = T.get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
  rng = np.random.default_rng(seed)
  model.train()
  padded = 0  # tokens computed, padding included
  for _ in range(args.epochs):
    order = rng.permutation(len(train_rows))
    for s in range(0, len(order), args.batch):
      ids, mask, types, lab = collate([train_rows[i] for i in order[s:s + args.batch]])
      padded += ids.numel()
      loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=lab).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
      opt.step()
      sched.step()
      opt.zero_grad()
  t_eval = time.perf_counter()
  model.eval()
  preds = []
  with torch.no_grad():
    for s in range(0, len(dev_rows), 64):
      chunk = dev_rows[s:s + 64]
      ids, mask, types, _ = collate(chunk)
      logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
      for r, row in zip(chunk, logits.argmax(-1).tolist()):
        tags, seen = ["O"] * (max([w for w in r[3] if w is not None], default=-1) + 1), set()
        for w, p in zip(r[3], row):
          if w is not None and w not in seen:
            seen.add(w)
            tags[w] = labels[p]
        preds.append(tags)
  preds = [p + ["O"] * (len(s.tokens) - len(p)) for p, s in zip(preds, dev)]
  f1 = entity_f1([list(s.tags) for s in dev], preds)["f1"]
  t_end = time.perf_counter()
  return {"wall_s": t_end - t0, "setup_s": t_steps - t0, "compile_s": 0.0,
          "steps_s": t_eval - t_steps, "eval_s": t_end - t_eval, "entity_f1": f1,
          "steps": steps, "train_tokens": padded}


def ours(model_dir, conll_dir, args, workdir, seed: int = 0) -> dict:
  from bertlab import finetune
  from bertlab.finetune_config import finetune_config

  c = finetune_config("conll2003")
  c.init_from = model_dir
  c.train_file = os.path.join(conll_dir, "train.txt")
  c.eval_file = os.path.join(conll_dir, "valid.txt")
  c.num_train_examples, c.num_eval_examples = args.train, args.eval
  c.num_epochs, c.batch_size, c.eval_batch_size = float(args.epochs), args.batch, 64
  c.optimizer.learning_rate, c.save_checkpoint, c.log_every_steps = args.lr, False, 10**6
  c.pad_per_batch = not args.pad_to_max
  c.seeds = (seed,)
  c.pack_rows = not (args.pad_to_max or args.no_pack)
  steps = int(np.ceil(args.train / args.batch)) * args.epochs
  c.eval_every_steps = steps  # once, at the end, as the transformers loop
  t0 = time.perf_counter()
  result = finetune.run(c, workdir, echo=lambda *_: None)
  wall = time.perf_counter() - t0
  with open(os.path.join(workdir, f"seed_{seed}", "timing.json")) as f:
    timing = json.load(f)
  parts = {k: timing[k] for k in ("compile_s", "eval_s")}
  return {"wall_s": wall, "setup_s": wall - sum(parts.values()) - timing["train_s"],
          **parts, "steps_s": timing["train_s"], "entity_f1": result["entity_f1"],
          "steps": steps, "train_tokens": timing["train_tokens"],
          "train_shapes": timing["train_shapes"], "eval_lengths": timing["eval_lengths"]}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--conll", required=True, help="directory with CoNLL-2003 train.txt, valid.txt")
  p.add_argument("--model", default="", help="a BERT directory (default: a random 6-layer H384)")
  p.add_argument("--train", type=int, default=2000)
  p.add_argument("--eval", type=int, default=1000)
  p.add_argument("--epochs", type=int, default=3)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--lr", type=float, default=1e-4)
  p.add_argument("--pad-to-max", action="store_true", help="ours without per-batch padding")
  p.add_argument("--no-pack", action="store_true",
                 help="ours with each sentence in its own row (padded per batch), not packed")
  p.add_argument("--tiny", action="store_true", help="a 2-layer H 32 model (smoke test)")
  p.add_argument("--repeats", type=int, default=1, help="runs of both; medians reported")
  p.add_argument("--seeds", default="0",
                 help="fine-tuning seeds, e.g. 0,1,2: each run of both sides uses the next one "
                      "(F1 mean and spread over them; times are medians over all runs)")
  p.add_argument("--json", default="")
  args = p.parse_args(argv)

  import jax
  import torch

  from bertlab.study.stats import mean_ci
  from bertlab.tasks.conll import CONLL2003_NER_TAGS, read_conll
  write_model = hub_model.write_model

  threads = os.cpu_count() or 1
  torch.set_num_threads(threads)
  train = read_conll(os.path.join(args.conll, "train.txt"))[:args.train]
  dev = read_conll(os.path.join(args.conll, "valid.txt"))[:args.eval]
  tmp = tempfile.mkdtemp(prefix="ft_speed_")
  model_dir = args.model or write_model(os.path.join(tmp, "bert"),
                                        [" ".join(s.tokens) for s in train], tiny=args.tiny)
  seeds = [int(x) for x in args.seeds.split(",")]
  runs = []
  for r in range(args.repeats):
    for seed in seeds:
      runs.append({"seed": seed,
                   "bertlab": ours(model_dir, args.conll, args, os.path.join(tmp, f"run{r}"),
                                   seed),
                   "transformers": transformers_loop(model_dir, train, dev, CONLL2003_NER_TAGS,
                                                     args, seed)})
  sides = ("bertlab", "transformers")
  keys = ("wall_s", "setup_s", "compile_s", "steps_s", "eval_s", "entity_f1")
  rows = {name: {**runs[0][name], **{k: float(np.median([run[name][k] for run in runs]))
                                     for k in keys}}
          for name in sides}
  # F1 per seed from the first repeat (a seed's F1 does not change between repeats).
  f1 = {name: np.array([run[name]["entity_f1"] for run in runs[:len(seeds)]]) for name in sides}
  ci = {name: mean_ci(f1[name]) for name in sides}
  size = "2-layer H32" if args.tiny else "6-layer H384"
  print(f"CoNLL-2003: {len(train)} train sentences, {args.epochs} epochs, batch {args.batch}, "
        f"{size} BERT, eval on {len(dev)} valid sentences; JAX {jax.devices()[0].platform} "
        f"{jax.device_count()} device(s) (XLA's CPU thread pool: {threads} cores), torch "
        f"{threads} threads; medians of {len(runs)} run(s) (seeds {seeds}); entity F1 the mean "
        "over seeds")
  print(f"{'':14s}{'wall s':>9s}{'setup s':>9s}{'compile s':>11s}{'steps s':>9s}{'eval s':>8s}"
        f"{'tokens':>9s}{'entity F1':>11s}")
  for name, r in rows.items():
    r["entity_f1_mean"], r["entity_f1_ci95"] = ci[name]["mean"], ci[name]["ci"]
    r["entity_f1_per_seed"] = f1[name].tolist()
    spread = f" +- {ci[name]['ci']:.4f}" if len(seeds) > 1 else ""
    print(f"{name:14s}{r['wall_s']:9.1f}{r['setup_s']:9.1f}{r['compile_s']:11.1f}"
          f"{r['steps_s']:9.1f}{r['eval_s']:8.1f}{r['train_tokens']:9d}"
          f"{r['entity_f1_mean']:11.4f}{spread}  per seed {[round(x, 4) for x in f1[name]]}")
  speedup = rows["transformers"]["wall_s"] / rows["bertlab"]["wall_s"]
  # The sides draw their own head init, data order and dropout from a seed: not paired.
  diff = ci["bertlab"]["mean"] - ci["transformers"]["mean"]
  walls = [round(run["transformers"]["wall_s"] / run["bertlab"]["wall_s"], 3) for run in runs]
  print(f"bertlab speed-up: {speedup:.2f}x (per run {walls}); train shapes (rows, length) "
        f"{rows['bertlab']['train_shapes']}, eval lengths {rows['bertlab']['eval_lengths']}; "
        f"difference of the mean entity F1s {diff:+.4f} (95 % intervals over seeds above)")
  if args.json:
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
      json.dump({"rows": rows, "runs": runs, "speedup": speedup, "torch_threads": threads,
                 "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
  main()
