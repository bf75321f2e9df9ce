"""The Dropbox tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.dropbox.testing import CONTRACT
from integrations.dropbox.upload_file import DropboxUploadFileIntegration
from integrations.http import HttpClients
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> DropboxUploadFileIntegration:
    return DropboxUploadFileIntegration(clients)
