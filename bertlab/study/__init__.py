"""A compute-matched study of the pretraining objectives (`python study.py --config ...`).

spec.py    the study config: arms, budget in FLOPs, seeds, task suite; validation
plan.py    each arm's pretraining config and steps; the grid of cells and its slices
runner.py  runs cells: pretraining (once per arm and seed, resumable), then fine-tuning
stats.py   means with t-based 95 % intervals and paired differences
report.py  study.json, study.md and study.png from whatever cells have finished
main.py    the command line
"""
