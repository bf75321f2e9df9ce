"""Google Classroom integrations (httpx, OAuth), registered seed-style on import.

``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__GOOGLECLASSROOM__BASE_URL`` moves the API (default
``https://classroom.googleapis.com``), ``…__TOKEN_URL`` the token endpoint the refresher uses.
"""

from integrations.credentials.oauth import register_token_endpoint
from integrations.google import GOOGLE_TOKEN
from integrations.registry import registry

from .client import GOOGLE_CLASSROOM
from .create_announcement import GoogleClassroomCreateAnnouncementIntegration

__all__ = ["INTEGRATIONS", "GoogleClassroomCreateAnnouncementIntegration"]

# Not bound to the action's module name (``create_announcement``): it would shadow the module.
INTEGRATIONS = (GoogleClassroomCreateAnnouncementIntegration(),)

register_token_endpoint(GOOGLE_CLASSROOM.name, GOOGLE_TOKEN)
for _integration in INTEGRATIONS:
    registry.register(_integration)
