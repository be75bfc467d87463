"""Reverse ETL: send the activation marts to Amplitude, recording what it accepted."""

from .runner import PushResult, push

__all__ = ["PushResult", "push"]
