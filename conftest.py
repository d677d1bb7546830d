"""Test-suite setup shared by tests/ and the doctests in symgrad/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_proof_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Proof verdicts go to a directory of this session, never to the user's cache (symgrad.derive.proofcache)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("symgrad-cache")))
    yield
    patch.undo()
