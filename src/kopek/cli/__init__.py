"""The ``kopek`` command line (Typer + Rich): ``kopek <noun> <verb>``.

The console script calls :func:`main`; :data:`app` is the Typer application, for
tests (``typer.testing.CliRunner``) and for embedding.
"""

from kopek.cli.app import app, main

__all__ = ["app", "main"]
