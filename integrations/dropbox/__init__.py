"""Dropbox integrations over httpx (content API), registered seed-style on import."""

from integrations.credentials.oauth import register_token_endpoint
from integrations.registry import registry

from .client import DROPBOX, TOKEN_ENDPOINT, DropboxIntegration, content_hash
from .upload_file import DropboxUploadFileIntegration

__all__ = ["INTEGRATIONS", "DropboxIntegration", "DropboxUploadFileIntegration", "content_hash"]

# Not bound to the action's module name (``upload_file``): that would shadow the submodule.
INTEGRATIONS = (DropboxUploadFileIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
register_token_endpoint(DROPBOX.name, TOKEN_ENDPOINT)
