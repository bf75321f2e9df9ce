"""Google Drive integrations (httpx, OAuth), registered seed-style on import.

``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__GOOGLEDRIVE__BASE_URL`` moves the API (default
``https://www.googleapis.com``), ``…__TOKEN_URL`` the token endpoint the refresher uses.
"""

from integrations.credentials.oauth import register_token_endpoint
from integrations.google import GOOGLE_TOKEN
from integrations.registry import registry

from .client import GOOGLE_DRIVE
from .upload_file import GoogleDriveUploadFileIntegration

__all__ = ["INTEGRATIONS", "GoogleDriveUploadFileIntegration"]

# Not bound to the action's module name (``upload_file``): that would shadow the submodule.
INTEGRATIONS = (GoogleDriveUploadFileIntegration(),)

register_token_endpoint(GOOGLE_DRIVE.name, GOOGLE_TOKEN)
for _integration in INTEGRATIONS:
    registry.register(_integration)
