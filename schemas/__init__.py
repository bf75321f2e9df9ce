"""Avro event schemas, the codec that frames and resolves them, and the typed events.

The rest of the code needs only these names::

    codec = AvroCodec()                               # bundled schemas, single-object framing
    data = codec.encode(request)                      # any of the three events
    request = codec.decode(IntegrationRequest, data)  # SchemaDecodeError on poison
"""

from schemas.codec import AvroCodec
from schemas.errors import (
    SchemaDecodeError,
    SchemaEncodeError,
    SchemaError,
    SchemaRegistryError,
    UnknownSchemaError,
)
from schemas.events import (
    ORDERING_KEY_HEADER,
    AnyEvent,
    DeadLetter,
    ErrorRecord,
    IntegrationRequest,
    IntegrationResult,
    ResponseEnvelope,
    ResultStatus,
    bot_id_problem,
    ordering_key_problem,
    utc_now,
)
from schemas.registry_client import SchemaRegistryClient
from schemas.store import SchemaStore, StoredSchema

__all__ = [
    "ORDERING_KEY_HEADER",
    "AnyEvent",
    "AvroCodec",
    "DeadLetter",
    "ErrorRecord",
    "IntegrationRequest",
    "IntegrationResult",
    "ResponseEnvelope",
    "ResultStatus",
    "SchemaDecodeError",
    "SchemaEncodeError",
    "SchemaError",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "SchemaStore",
    "StoredSchema",
    "UnknownSchemaError",
    "bot_id_problem",
    "ordering_key_problem",
    "utc_now",
]
