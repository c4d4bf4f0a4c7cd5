"""Nested parameter dicts addressed by key paths, and flattened to 'a/b/c' names (safetensors)."""

from __future__ import annotations


def get_path(tree, path):
  """tree[path[0]][path[1]]...; a KeyError names the missing key and what is there."""
  node = tree
  for i, k in enumerate(path):
    if not isinstance(node, dict) or k not in node:
      found = sorted(node) if isinstance(node, dict) else type(node).__name__
      raise KeyError(f"params/{'/'.join(path[:i + 1])}: expected this key; found {found}.")
    node = node[k]
  return node


def set_path(tree, path, value):
  """A copy of nested dict `tree` with `path` replaced; untouched subtrees are shared."""
  if not path:
    return value
  return {**tree, path[0]: set_path(tree[path[0]], path[1:], value)}


def flatten(tree, prefix: str = "") -> dict:
  """{'a/b/c': leaf} of a nested dict of arrays."""
  flat = {}
  for k, v in tree.items():
    name = f"{prefix}{k}"
    if isinstance(v, dict):
      flat.update(flatten(v, name + "/"))
    else:
      flat[name] = v
  return flat


def unflatten(flat: dict) -> dict:
  """The nested dict of {'a/b/c': leaf}."""
  tree = {}
  for name, v in flat.items():
    *parents, leaf = name.split("/")
    node = tree
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = v
  return tree
