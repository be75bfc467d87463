"""A local fake of the Customer.io App API and the App API view of generated demo data."""

from .server import FakeCustomerIo, RequestRecord, Workspace

__all__ = ["FakeCustomerIo", "RequestRecord", "Workspace", "derive_workspace"]


def derive_workspace(*args, **kwargs):  # noqa: D103 - imported lazily (DuckDB, the webhook parser)
    from .derive import derive_workspace as derive

    return derive(*args, **kwargs)
