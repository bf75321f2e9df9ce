"""Errors raised while resolving credentials.

The decision travels on the class, so the dispatcher never parses messages. Source failures are
:class:`~integrations.errors.IntegrationError` subclasses: raised through an integration's
``execute`` they are classified like any other failure by ``integrations.outcome.classify``::

    CredentialsError                       base; never carries a credential value
    ├── CredentialsConfigError             start-up only: no encryption key, no service token;
    │                                      fix the configuration (like RegistrationError)
    ├── CredentialsSourceError             the source of truth could not answer; an IntegrationError
    │   ├── CredentialsUnavailableError    transient, retryable, 503: 5xx, timeout, refused; also a
    │   │                                  token endpoint that cannot answer now
    │   └── CredentialsSourceBrokenError   permanent, not retryable, 500: our service token was
    │                                      rejected, or the source holds malformed data; fix it,
    │                                      then replay from the DLQ
    └── ReauthorisationRequiredError       auth, 401: the OAuth grant is gone (invalid_grant); only
                                           the bot's owner can mend it, by authorising again

Messages name the bot, provider, strategy, URL or file involved, never the credentials themselves,
so they are safe in results, DLQ records and logs.
"""

from __future__ import annotations

from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError


class CredentialsError(Exception):
    """Base class of every credentials failure."""


class CredentialsConfigError(CredentialsError):
    """The credentials subsystem is misconfigured; the worker must not start like this."""


class CredentialsSourceError(CredentialsError, IntegrationError):
    """The source of truth failed to answer; ``retryable`` says whether trying later can help.

    Raise one of the two subclasses; catch this one.
    """


class CredentialsUnavailableError(CredentialsSourceError, TransientError):
    """The source is down, slow or overloaded (5xx, 408/425/429, timeout, connection failure)."""


class CredentialsSourceBrokenError(CredentialsSourceError, PermanentError):
    """The source refused our service token or returned data that is not a credentials object."""

    default_code = 500  # our deployment's fault, not the bot author's request


class ReauthorisationRequiredError(CredentialsError, AuthError):
    """The provider refused the bot's OAuth grant (``invalid_grant`` and its kin): no refresh
    can help, and none is tried again until the stored grant changes."""
