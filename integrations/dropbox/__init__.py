"""Dropbox integrations over httpx (content API), registered seed-style on import."""

from integrations.registry import registry

from .client import DropboxIntegration, content_hash
from .upload_file import DropboxUploadFileIntegration

__all__ = ["DropboxIntegration", "DropboxUploadFileIntegration", "content_hash"]

upload_file = DropboxUploadFileIntegration()

registry.register(upload_file)
