"""What the Yandex Cloud services (YandexGPT, Yandex Translate) share; not a service itself.

It registers nothing and is not in ``BUILTIN_SERVICES``: :mod:`.credentials` reads a bot's
Yandex Cloud credentials (an API key or an IAM token, and the folder ID), :mod:`.provider` reads
Yandex Cloud's ``google.rpc.Status`` errors, :mod:`.integration` is the base of their actions,
and :mod:`.testing` the base of their fakes.
"""

from .credentials import FOLDER_ID_PATTERN, YandexCloudCredentials, read_yandex_credentials
from .integration import YandexCloudIntegration
from .provider import GRPC_CODES, YandexCloud

__all__ = [
    "FOLDER_ID_PATTERN",
    "GRPC_CODES",
    "YandexCloud",
    "YandexCloudCredentials",
    "YandexCloudIntegration",
    "read_yandex_credentials",
]
