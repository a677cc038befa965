"""Run the training tests single-threaded: their models are tiny, and with other work on the
machine two threads per matrix multiply mostly wait for each other."""

from __future__ import annotations



