"""The objectives study at the papers' scale: BERT-Small / ELECTRA-Small size, ELECTRA T1 budget.

  python study.py --config configs/study/objectives_base.py --workdir gs://.../study \
      --cells=$I/$N            # one slice per host or accelerator, all sharing the workdir

For a pod slice or GPUs (the CPU version is objectives_cpu.py). Encoder L 12, H 256, A 4,
FFN 1024 (ELECTRA-Small's discriminator, with E = H so that every arm has one network), seq
128, WordPiece 30,522 trained on English Wikipedia (TFDS). Budget: ELECTRA Table 1's 1.4e18
train FLOPs for each arm (ELECTRA-Small's 1M steps of batch 128); ELECTRA's generator at 1/4
width (Table 6). Fine-tuning: GLUE dev sets, CoNLL-2003 valid, SQuAD v1.1 dev, from TFDS;
ELECTRA §A: lr 3e-4 for small models, 3 epochs (10 for RTE and STS-B in the paper; one recipe
here). Checkpoints at 1/4, 1/2 and 1 of the budget give the curves of ELECTRA Figure 3.
"""

from bertlab.study.spec import study_config


def get_config():
  c = study_config()
  c.encoder.update(dict(hidden_size=256, num_layers=12, num_heads=4, intermediate_size=1024,
                        vocab_size=30522, max_seq_len=128, hidden_dropout=0.1,
                        attention_dropout=0.1))
  c.generator_fraction = 0.25          # ELECTRA Table 6 (small)
  c.corpus = "tfds:wikipedia/20230601.en:train"
  c.one_doc_per_line = False
  c.tokenizer, c.lowercase = "wordpiece", True
  # Unpacked, as the papers: Wikipedia articles mostly fill BERT's 128-token pairs (the CPU study packs
  # because its Gutenberg "documents" are paragraphs, which left BERT's rows half empty).
  c.arms.bert = dict(family="bert", overrides=dict(data=dict(dynamic_masking=False)))
  c.arms.albert = dict(family="albert")
  c.arms.roberta = dict(family="roberta")
  c.arms.roberta_static = dict(family="roberta", overrides=dict(data=dict(dynamic_masking=False)))
  c.arms.electra = dict(family="electra")
  c.arms.spanbert = dict(family="spanbert")
  c.baseline = "bert"
  p = c.pretrain
  p.budget_flops = 1.4e18              # ELECTRA Table 1: ELECTRA-Small and BERT-Small
  p.fractions = (0.25, 0.5, 1.0)
  p.seeds = (0, 1, 2)
  p.batch_size = 128                   # ELECTRA Table 6 (small)
  p.max_predictions = 20
  p.learning_rate = 5e-4               # ELECTRA Table 6 (small)
  p.warmup_fraction = 0.01             # 10k of 1M steps
  p.checkpoint_every_steps = 25_000       # at most; resumes lose no more
  p.log_every_steps = 1000
  p.eval_batches = 50
  f = c.finetune
  f.seeds = (0, 1, 2, 3, 4)
  f.learning_rate = 3e-4               # ELECTRA §A (small)
  f.batch_size = 32
  f.num_epochs = 3.0
  f.max_seq_len = 128
  f.select_best = False
  for task in ("sst2", "cola", "mrpc", "stsb", "rte", "mnli"):
    c.tasks[task] = dict(config=f"configs/finetune/{task}.py",
                         overrides=dict(tfds_name=f"glue/{task}"))
  c.tasks.conll2003 = dict(config="configs/finetune/conll2003.py",
                           overrides=dict(tfds_name="conll2003"))
  c.tasks.squad = dict(config="configs/finetune/squad.py",
                       overrides=dict(tfds_name="squad/v1.1", max_seq_len=128, doc_stride=64))
  return c
