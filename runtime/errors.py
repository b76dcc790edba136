"""Exceptions shared by every stage.

They live in the runtime because it is the lightest layer: models/, export/ and calib/ may import from the
runtime, never the other way round.
"""
from __future__ import annotations


class SkysegError(Exception):
    """A failure the user can act on. Its message is one sentence; the CLI prints it and exits non-zero."""

    exit_code: int = 1


class OutputError(SkysegError):
    """An output could not be written (a full disk, a read-only or vanished folder): the run stops, and the
    message names the path and what was kept."""

    exit_code = 1


class InputError(SkysegError):
    """Bad input: an unreadable file, a missing camera, an empty folder, a bad flag combination."""

    exit_code = 2


class ModelContractError(SkysegError):
    """A model whose inputs/outputs do not match the skyseg model-file contract."""

    exit_code = 2


class MissingDependencyError(SkysegError):
    """An optional dependency (TensorRT, GStreamer, CUDA bindings, ...) is not installed."""

    exit_code = 2


class VerificationError(SkysegError):
    """A numerical or structural check failed (export verification, backend comparison, accuracy budget)."""

    exit_code = 3


class CheckSkippedError(SkysegError):
    """A check the user asked for could not run here (e.g. an engine on a machine without TensorRT): not a pass."""

    exit_code = 4
