"""News feed integrations (httpx + feedparser), registered seed-style on import.

The seed's news row names Yandex News, which has no public API (it is Dzen News now): these
read any RSS or Atom feed, Dzen's included, from the URL in the request's config. They need no
credentials. They are ``HttpIntegration`` subclasses: the worker hands them its shared
``HttpClients`` at start-up, whose ``rss`` client is egress-checked (the URLs are tenants').
"""

from integrations.registry import registry

from .client import FeedIntegration
from .read_feed import RssReadFeedIntegration

__all__ = ["INTEGRATIONS", "FeedIntegration", "RssReadFeedIntegration"]

# Not bound to the action's module name (``read_feed``): that would shadow the submodule.
INTEGRATIONS = (RssReadFeedIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
