"""Imports every table module so SQLModel.metadata knows the whole schema."""

from __future__ import annotations

from sqlmodel import SQLModel

import storage.agenda_models
import storage.digest_models
import storage.models
import storage.poll_models
import storage.privacy_models
import storage.proposal_models
import storage.web_models  # noqa: F401

metadata = SQLModel.metadata
