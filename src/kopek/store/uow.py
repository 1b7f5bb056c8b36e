"""The unit of work: one database transaction per operation, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa

from kopek.store.catalog_store import CatalogStore
from kopek.store.charging_store import ChargingStore
from kopek.store.master_store import MasterStore


class UnitOfWork:
    """Opens a transaction on enter; :meth:`commit` makes it durable, leaving without it undoes it.

    ``writes=False`` opens a reading transaction (SQLite then does not take the
    write lock up front).
    """

    def __init__(self, engine: sa.Engine, *, writes: bool = True) -> None:
        self._engine = engine
        self._writes = writes
        self._committed = False

    def __enter__(self) -> Self:
        self.connection = self._engine.connect().execution_options(kopek_writes=self._writes)
        try:
            self._transaction = self.connection.begin()
        except BaseException:
            self.connection.close()
            raise
        self.master = MasterStore(self.connection)
        self.charging = ChargingStore(self.connection)
        self.catalogs = CatalogStore(self.connection)
        return self

    def commit(self) -> None:
        assert not self._committed, "a unit of work commits once"
        self._transaction.commit()
        self._committed = True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        try:
            if not self._committed and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self.connection.close()

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name
