"""Convert checkpoints between Hugging Face layouts and ours.

  python -m bertlab.convert import HF_DIR OUT [--encoder-only] [--vocab-multiple N]
      HF_DIR: a local Hugging Face checkpoint directory (config.json + model.safetensors or
      pytorch_model.bin, tokenizer files), or DIR/{generator,discriminator} for ELECTRA.
      OUT: our layout (bertlab.json + params.safetensors + the tokenizer files), which
      `bertlab.load(OUT)` reads. --vocab-multiple pads the vocabulary to a multiple of N (as
      pretraining configs do, N = 128) so a tensor axis divides it; padded ids are never
      predicted, and `export` writes the real size back.
  python -m bertlab.convert export CHECKPOINT OUT [--step N] [--seed S]
      CHECKPOINT: our pretraining or fine-tuning workdir, or a directory `import` wrote.
      OUT: a Hugging Face directory that `transformers` `from_pretrained` loads (ELECTRA:
      OUT/generator and OUT/discriminator).

Each prints what it mapped, dropped and wrote. Weights are never unpickled: .bin files are
read with torch.load(weights_only=True).
"""

from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m bertlab.convert", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  imp = sub.add_parser("import", help="Hugging Face directory -> our layout")
  imp.add_argument("source", metavar="HF_DIR")
  imp.add_argument("out", metavar="OUT")
  imp.add_argument("--encoder-only", action="store_true",
                   help="keep the encoder of any architecture, drop its heads")
  imp.add_argument("--vocab-multiple", type=int, default=1, metavar="N",
                   help="pad the vocabulary to a multiple of N (e.g. 128) so a tensor axis "
                        "divides it; default 1: as the checkpoint")
  exp = sub.add_parser("export", help="our workdir or layout -> Hugging Face directory")
  exp.add_argument("source", metavar="CHECKPOINT")
  exp.add_argument("out", metavar="OUT")
  exp.add_argument("--step", type=int, default=None, help="pretraining step (default: newest)")
  exp.add_argument("--seed", type=int, default=None, help="fine-tuning seed (default: median)")
  for sp in (imp, exp):
    sp.add_argument("--force", action="store_true", help="write into a non-empty OUT")
  return p


def run(argv: list[str], echo=print) -> int:
  """The CLI without sys.exit: 0 on success; raises on failure."""
  from bertlab.convert import export, ours, sources

  args = _parser().parse_args(argv)
  if os.path.abspath(args.out) == os.path.abspath(args.source):
    raise ValueError(f"OUT {args.out} is the source directory; pass another directory")
  if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
    raise FileExistsError(f"OUT {args.out} exists and is not empty (holds "
                          f"{sorted(os.listdir(args.out))[:8]}); pass another directory, or "
                          "--force to write into it")
  if args.command == "import":
    from bertlab.convert.from_hf import bundle_from_hf
    from bertlab.convert.workdir import is_finetuning_run, is_pretraining_run

    if ours.is_ours(args.source) or is_pretraining_run(args.source) or is_finetuning_run(
        args.source):
      raise ValueError(f"{args.source} is already ours (a converted directory or a workdir); "
                       "`import` reads Hugging Face directories: `bertlab.load` reads this one "
                       "as it is, and `export` writes a Hugging Face directory from it")
    from bertlab.convert.vocab_padding import with_vocab_multiple

    bundle = bundle_from_hf(args.source, encoder_only=args.encoder_only)
    if args.vocab_multiple != 1:
      v = bundle.encoder_config
      bundle = with_vocab_multiple(bundle, args.vocab_multiple)
      bundle.notes.append(f"vocabulary padded from {v.vocab_size} to "
                          f"{bundle.encoder_config.padded_vocab_size} rows (padded ids never "
                          "predicted; export writes the real size)")
    lines = [f"{args.source} -> {args.out} ({bundle.family} {type(bundle.model).__name__})"]
    lines += [f"  {n}" for n in bundle.notes]
    lines += [f"  {n}" for n in ours.save_ours(bundle, args.out)]
  else:
    bundle = sources.load_bundle(args.source, step=args.step, seed=args.seed)
    lines = export.export_bundle(bundle, args.out)
  for line in lines:
    echo(line)
  return 0


def main(argv=None) -> int:
  try:
    return run(sys.argv[1:] if argv is None else argv)
  except (ValueError, FileNotFoundError, FileExistsError, ImportError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
  sys.exit(main())
