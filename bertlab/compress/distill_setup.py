"""What a distillation run starts from: the student's architecture and initial weights, the
teacher's weights, and an optimizer that trains the student only."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
import optax

from bertlab.compress.tree_paths import get_path, set_path
from bertlab.encoder import EncoderConfig, presets

LAYERS = ("encoder", "stack", "layers")
SIZES = ("num_layers", "hidden_size", "num_heads", "intermediate_size")


def student_config(teacher: EncoderConfig, student: ml_collections.ConfigDict) -> EncoderConfig:
  """The student's encoder: `student.preset` (or the teacher's architecture) with the sizes
  `student` overrides. Vocabulary, positions and token types follow the teacher: the student
  reads the teacher's tokens."""
  base = presets.get(student.preset) if student.preset else teacher
  overrides = {k: int(student[k]) for k in SIZES if student[k]}
  if student.preset or {"hidden_size", "num_heads"} & set(overrides):
    overrides["attention_head_size"] = None  # a pruned teacher's head width does not carry over
  follow = ("vocab_size", "vocab_multiple", "max_position_embeddings", "type_vocab_size",
            "position_offset", "pad_token_id", "dtype")
  try:
    return base.replace(**{k: getattr(teacher, k) for k in follow}, **overrides)
  except ValueError as e:
    raise ValueError(f"config.student: {e}") from e


def teacher_layer_params(teacher_params, teacher: EncoderConfig, student: EncoderConfig):
  """The student's params copied from the teacher's, keeping every k-th weight group.

  DistilBERT §3 initialises its 6-layer student from every other layer of BERT-base;
  group i of G_s takes teacher group i * G_t // G_s (12 -> 6: 0, 2, 4, 6, 8, 10). The
  embeddings and heads are copied whole.
  """
  widths = ("hidden_size", "embed_dim", "intermediate_size", "num_heads", "head_dim",
            "use_pooler")
  differ = {k: (getattr(teacher, k), getattr(student, k)) for k in widths
            if getattr(teacher, k) != getattr(student, k)}
  if differ or student.num_groups > teacher.num_groups:
    raise ValueError(
        "config.student.init='teacher' copies teacher layers (DistilBERT), so the student "
        "needs the teacher's widths and at most its number of weight groups; found "
        f"(teacher, student) = {differ or {'num_groups': (teacher.num_groups, student.num_groups)}}"
        ". Use init='random' or a pretrained student checkpoint.")
  index = (np.arange(student.num_groups) * teacher.num_groups) // student.num_groups
  layers = jax.tree_util.tree_map(lambda x: np.asarray(x)[index],
                                  get_path(teacher_params, LAYERS))
  return set_path(teacher_params, LAYERS, layers)


def pretrained_student(path: str, kind: str, num_labels: int, student: ml_collections.ConfigDict):
  """(EncoderConfig, params) of a pretrained student at `path`: a `compress.artifact` (e.g. a
  head-pruned model, whose heads are then recovered by distillation: encoder and task head),
  or a train.py workdir / HF checkpoint directory (encoder only)."""
  from bertlab.compress import artifact
  from bertlab.finetune_init import load_pretrained

  sized = [k for k in SIZES if student[k]]
  if student.preset or sized:
    raise ValueError(f"config.student.init={path!r} fixes the student's architecture; found "
                     f"preset={student.preset!r} and sizes {sized} too. Leave them unset.")
  if artifact.is_artifact(path):
    spec, params = artifact.load(path)
    if spec.quantized:
      raise ValueError(f"config.student.init={path!r} holds int8 params; start from a float "
                       "model (quantize after distilling).")
    return spec.encoder, params
  pre = load_pretrained(path, kind, num_labels)
  return pre.config, {"encoder": pre.params["encoder"]}


def freeze_teacher(tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """`tx` on every top-level params entry but 'teacher', whose updates are 0 (no optimizer
  state is allocated for it, and no weight decay reaches it).

  The loop reads skipped-step counts from the outermost `apply_if_finite`, so one wraps the
  partition; it sees the same gradients as the one inside `tx` (the teacher's are zeros).
  """
  labels = lambda params: {k: "frozen" if k == "teacher" else "train" for k in params}
  inner = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
  return optax.apply_if_finite(inner, max_consecutive_errors=1 << 30)


class TaskBatches:
  """Training batches of a fine-tuning split, in `train_order`, with a resumable position
  (the iterator contract of `training.loop.run`)."""

  def __init__(self, split, kind: str, batch_size: int, total_steps: int, seed: int):
    from bertlab.tasks.finetune_data import train_order

    self._split, self._kind = split, kind
    self._order = train_order(len(split), batch_size, total_steps, seed)
    self._step = 0

  def __iter__(self):
    return self

  def __next__(self):
    from bertlab.tasks.finetune_data import model_batch

    if self._step >= len(self._order):
      raise StopIteration
    batch = model_batch(self._split, self._order[self._step], self._kind)
    self._step += 1
    return batch

  def get_state(self) -> dict:
    return {"step": self._step}

  def set_state(self, state: dict):
    self._step = int(state["step"])
