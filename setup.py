"""bertlab: BERT, ALBERT, RoBERTa, ELECTRA and SpanBERT in JAX/Flax."""

from setuptools import find_packages, setup

# Ranges are those resolved together and tested on CPU (see ../shared/DESIGN.md §5);
# upper bounds stop a minor release with breaking API changes from landing silently.
INSTALL_REQUIRES = [
    "jax[cpu]>=0.10.2,<0.11",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "chex>=0.1.92,<0.2",
    "ml_collections>=1.1.0,<2",
    "tokenizers>=0.23.3,<0.24",
    "sentencepiece>=0.2.3,<0.3",
    "safetensors>=0.5,<1",
    "grain>=0.2.18,<0.3",
    "tensorflow-datasets>=4.9.10,<4.10",
    # tensorflow-datasets imports these without declaring them.
    "importlib_resources>=6",
    "dill>=0.3",
    "numpy>=2,<3",
    "tqdm>=4.66",
    "absl-py>=2",
    "tensorboardX>=2.6",
    # Every path a run reads or writes (bertlab/storage; gs:// with the "gcs" extra).
    "etils[epath]>=1.5,<2",
    # study.png (bertlab/study/report.py), drawn headless.
    "matplotlib>=3.8,<4",
]

EXTRAS_REQUIRE = {
    # Reference implementations for parity tests; torch pinned to the CPU wheel on disk
    # (a looser range pulls a multi-GB CUDA build).
    "test": [
        "pytest>=8",
        # Two test workers: most of the suite is single-threaded XLA compiles (pyproject.toml).
        "pytest-xdist>=3.5,<4",
        "torch==2.13.0",
        "transformers>=5,<6",
        # embed() parity with SentenceTransformer.encode (tests/test_inference.py).
        "sentence-transformers>=6.2,<7",
        # Executing examples/quickstart.ipynb in tests.
        "nbclient>=0.10,<0.12",
        "nbformat>=5.10,<6",
        "ipykernel>=6.29,<8",
    ],
    "tf": ["tensorflow>=2.18"],
    # gs:// workdirs and corpora: fsspec's GCS backend (for etils.epath), and the client
    # tensorboardX writes its gs:// event files with.
    "gcs": ["gcsfs>=2024.2", "google-cloud-storage>=2.14,<4"],
    # Ahead-of-time compiles for TPU topologies on any host (benchmarks/aot.py); the libtpu
    # that jax[tpu]==0.10.2 names.
    "tpu": ["libtpu==0.0.42.*"],
}

setup(
    name="bertlab",
    version="0.1.0",
    description="BERT-family encoders (BERT, ALBERT, RoBERTa, ELECTRA, SpanBERT) in JAX/Flax",
    packages=find_packages(include=["bertlab", "bertlab.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
