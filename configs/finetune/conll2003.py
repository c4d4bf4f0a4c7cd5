"""CoNLL-2003 NER: 4 entity types in BIO tags, scored by entity-level F1 (seqeval default).

  python finetune.py --config configs/finetune/conll2003.py --workdir runs/conll \
      --config.init_from=PATH --config.train_file=conll2003/train.txt \
      --config.eval_file=conll2003/valid.txt

First sub-token of each word labelled (BERT §5.3). Files in the original IOB1 release need
--config.conll_scheme=iob1. BERT-base reaches dev F1 96.4 (BERT Table 7, with document
context). Cased vocabularies suit NER. TFDS: --config.tfds_name=conll2003.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("conll2003")
  c.optimizer.learning_rate = 5e-5     # BERT §4.1 grid (upper end: token tasks like larger lr)
  c.num_epochs = 3.0
  c.max_seq_len = 128
  return c
