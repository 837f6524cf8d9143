"""Synthetic data generation: randomized episodes of a scene script, written as an annotated dataset.

A dataset scene script defines ``episode(rng, writer)`` (see :mod:`physim.data.episode`); ``physim generate``
(:func:`generate`) runs its episodes locally or on a Ray cluster, resumably; ``physim inspect``
(:func:`inspect_dataset`) summarises a dataset and draws a contact sheet. The layout is in docs/DATASET.md.
"""

from physim.data.episode import SceneScript, episode_rng, run_episode
from physim.data.errors import DatasetError, EpisodeError
from physim.data.inspect import inspect_dataset
from physim.data.randomize import Randomizer
from physim.data.runner import Report, generate
from physim.data.writer import EpisodeWriter, MemorySink

__all__ = ["DatasetError", "EpisodeError", "EpisodeWriter", "MemorySink", "Randomizer", "Report", "SceneScript",
           "episode_rng", "generate", "inspect_dataset", "run_episode"]
