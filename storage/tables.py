"""Imports every table module so SQLModel.metadata knows the whole schema."""

from __future__ import annotations

from sqlmodel import SQLModel

import storage.event_models  # noqa: F401
import storage.models  # noqa: F401
import storage.poll_models  # noqa: F401
import storage.proposal_models  # noqa: F401

metadata = SQLModel.metadata
