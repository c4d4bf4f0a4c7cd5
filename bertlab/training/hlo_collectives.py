"""The collectives one execution of a compiled program runs, read from its optimized HLO text.

A collective inside a loop body (the scanned layers, gradient accumulation) is written once in
the text but runs once per trip: each while loop's trip count is read from its condition
(`induction < constant`) and multiplies what its body (and what the body calls) runs.
Bytes are those of each collective's result on one device; `wire_bytes` estimates what one
device sends for it on a ring of the group's size n: all-reduce 2·S·(n-1)/n, all-gather and
all-to-all S·(n-1)/n of the result, reduce-scatter S·(n-1) of its (n times smaller) result,
collective-permute S.
"""

from __future__ import annotations

import math
import re

KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4,
                "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16,
                "f8e4m3fn": 1, "f8e5m2": 1, "s4": 1, "u4": 1}
_HEADER = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\) -> .*\{$")
_INSTR = re.compile(r"^\s*(?:ROOT )?%?[\w.\-]+ = (.+?) ([a-z][a-z0-9\-]*)\((.*)$")
_ARRAY = re.compile(r"\b([a-z]+[0-9]*[a-z0-9]*)\[([0-9,]*)\]")
_CALLS = re.compile(r"\b(calls|body|to_apply|condition|branch_computations|true_computation|"
                    r"false_computation)=\{?(%[\w.\-]+(?:, ?%[\w.\-]+)*)\}?")


def _bytes(type_text: str) -> int:
  """Bytes of an HLO type: an array `f32[8,32]{...}` or a tuple of arrays."""
  total = 0
  for dtype, dims in _ARRAY.findall(type_text):
    if dtype in _DTYPE_BYTES:
      total += _DTYPE_BYTES[dtype] * math.prod(int(d) for d in dims.split(",") if d)
  return total


def _group_size(rest: str, n_devices: int) -> int:
  m = re.search(r"replica_groups=mesh\[([^\]]*)\] \{([^}]*)\}", rest)
  if m:
    sizes = dict(re.findall(r"'([\w]+)'=(\d+)", m.group(1)))
    return math.prod(int(sizes[a]) for a in re.findall(r"'([\w]+)'", m.group(2)))
  m = re.search(r"replica_groups=\{\{([0-9,]*)\}", rest)
  if m:
    return len(m.group(1).split(","))
  m = re.search(r"replica_groups=\[(\d+),(\d+)\]", rest)
  if m:
    return int(m.group(2))
  return n_devices  # no groups written: every device takes part


def _wire(kind: str, size: int, n: int) -> float:
  if n <= 1:
    return 0.0
  if kind == "all-reduce":
    return 2.0 * size * (n - 1) / n
  if kind == "reduce-scatter":
    return float(size * (n - 1))
  if kind == "collective-permute":
    return float(size)
  return size * (n - 1) / n


def parse(hlo_text: str, n_devices: int) -> dict:
  """{kind: {"count", "bytes", "wire_bytes"}} per device for one run of the ENTRY computation."""
  comps, entry, name = {}, None, None
  for line in hlo_text.splitlines():
    header = _HEADER.match(line)
    if header:
      name = header.group(1)
      comps[name] = []
      if line.startswith("ENTRY"):
        entry = name
    elif line.startswith("}"):
      name = None
    elif name is not None:
      comps[name].append(line)

  def trips(cond: str) -> int:
    consts = [int(c) for line in comps.get(cond, ())
              for c in re.findall(r"s32\[\]\{?[^ ]*\}? constant\((\d+)\)", line)]
    return max(consts) if consts else 1

  memo = {}

  def visit(comp: str) -> dict:
    if comp in memo:
      return memo[comp]
    memo[comp] = {}  # a cycle (never in valid HLO) counts nothing
    out = {}
    for line in comps.get(comp, ()):
      m = _INSTR.match(line)
      if not m:
        continue
      type_text, op, rest = m.groups()
      kind = op[:-len("-start")] if op.endswith("-start") else op
      if kind in KINDS:
        size = _bytes(type_text)
        if op.endswith("-start") and type_text.startswith("("):
          size //= 2  # an async start's tuple holds the operand and the result
        n = _group_size(rest, n_devices)
        _add(out, {kind: {"count": 1, "bytes": size, "wire_bytes": _wire(kind, size, n)}})
      calls = dict((k, v) for k, v in _CALLS.findall(rest))
      if op == "while" and "body" in calls:
        times = trips(calls.get("condition", "").lstrip("%"))
        _add(out, visit(calls["body"].lstrip("%")), times)
        continue
      for key, names in calls.items():
        if key in ("to_apply", "condition"):
          continue  # reductions and loop conditions hold no collectives
        for callee in names.split(","):
          _add(out, visit(callee.strip().lstrip("%")))
    memo[comp] = out
    return out

  return visit(entry) if entry else {}


def _add(into: dict, other: dict, times: int = 1):
  for kind, v in other.items():
    slot = into.setdefault(kind, {"count": 0, "bytes": 0, "wire_bytes": 0.0})
    for k in slot:
      slot[k] += v[k] * times


def summary(collectives: dict) -> tuple[int, float]:
  """(result bytes, wire bytes) of all collectives together."""
  return (sum(v["bytes"] for v in collectives.values()),
          sum(v["wire_bytes"] for v in collectives.values()))
