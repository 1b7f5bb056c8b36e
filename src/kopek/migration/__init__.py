"""Contract state migration: the contract state model, export, bulk restore and the migration lock."""
