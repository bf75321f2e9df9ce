"""What the Google services (Drive, Classroom) share; not a service itself.

It registers nothing and is not in ``BUILTIN_SERVICES``: :mod:`.provider` holds Google's OAuth
token endpoint (:data:`GOOGLE_TOKEN`, which each Google service registers under its own
provider name) and reads Google's JSON errors (:class:`GoogleApi`); :mod:`.testing` is the base
of their fakes, the token endpoint included.
"""

from .provider import GOOGLE_TOKEN, GOOGLE_TOKEN_URL, RATE_LIMIT_REASONS, GoogleApi, access_token

__all__ = ["GOOGLE_TOKEN", "GOOGLE_TOKEN_URL", "RATE_LIMIT_REASONS", "GoogleApi", "access_token"]
