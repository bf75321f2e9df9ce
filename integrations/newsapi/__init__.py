"""NewsAPI.org integrations (httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__NEWSAPI__BASE_URL`` moves them (default
``https://newsapi.org/v2``).
"""

from integrations.registry import registry

from .top_headlines import NewsAPITopHeadlinesIntegration

__all__ = ["INTEGRATIONS", "NewsAPITopHeadlinesIntegration"]

# Not bound to the action's module name (``top_headlines``): that would shadow the submodule.
INTEGRATIONS = (NewsAPITopHeadlinesIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
