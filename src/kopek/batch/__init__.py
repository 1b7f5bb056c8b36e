"""Batch rating of stored CDRs: the CDR store's import (see docs/batch.md)."""
