"""The one exception tree of repec-harvest.

Every error the product raises on purpose is a ``RepecHarvestError``. Lower-level errors
(requests, lxml, duckdb, OS errors) are mapped into this tree where they happen, so the CLI
can turn any of them into one clean line and an exit code, and the retry policy can ask a
single question: ``error.transient``.

The message of each class is its docstring unless a more precise one is given.
"""

from __future__ import annotations


class RepecHarvestError(Exception):
    """repec-harvest failed."""

    #: Worth retrying the same request later (network trouble, overloaded server).
    transient: bool = False
    #: Process exit code the CLI uses for this error.
    exit_code: int = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


# --- user input and configuration -------------------------------------------------------


class ConfigError(RepecHarvestError):
    """Invalid option or configuration."""

    exit_code = 2


class UnsupportedMetadataPrefix(ConfigError):
    """The server does not offer the requested metadata prefix."""


class UnknownSet(ConfigError):
    """The server does not have the requested set."""


class DataDirError(ConfigError):
    """The data directory cannot be used."""


class DataDirLocked(RepecHarvestError):
    """Another repec-harvest process is using this data directory."""

    exit_code = 3


# --- talking to an OAI-PMH endpoint ------------------------------------------------------


class EndpointError(RepecHarvestError):
    """The OAI-PMH endpoint failed."""


class TransientEndpointError(EndpointError):
    """The endpoint failed in a way that may go away (timeout, reset, 5xx, 429)."""

    transient = True

    def __init__(self, message: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        #: Seconds the server asked us to wait (Retry-After), if it said so.
        self.retry_after = retry_after


class EndpointUnreachable(TransientEndpointError):
    """The endpoint cannot be reached."""


class NotOAIResponse(TransientEndpointError):
    """The endpoint answered with something that is not a complete OAI-PMH response."""


class HTMLPage(NotOAIResponse):
    """The endpoint answered with an HTML page (an outage page later; a wrong URL at first)."""


class ConnectionRefused(EndpointUnreachable):
    """Nothing listens at the endpoint (retried later in a run; a wrong URL at first)."""


class HostileXML(EndpointError):
    """The response contains a DTD or entity declarations, which are refused."""


class ResponseTooLarge(EndpointError):
    """The response is larger than the configured limit; refused."""


class RequestBudgetExhausted(EndpointError):
    """The request budget for CitEc is spent; what was fetched so far is kept."""


class RetryBudgetExhausted(EndpointError):
    """Too many retries in this run; stopping with everything committed so far kept."""


class OAIError(EndpointError):
    """The endpoint answered with an OAI-PMH error."""

    code = "unknown"

    def __init__(self, message: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class BadArgument(OAIError):
    """The endpoint rejected the request's arguments (badArgument)."""

    code = "badArgument"


class BadResumptionToken(OAIError):
    """The resumption token is invalid or expired (badResumptionToken)."""

    code = "badResumptionToken"


class BadVerb(OAIError):
    """The endpoint does not know the verb (badVerb)."""

    code = "badVerb"


class CannotDisseminateFormat(OAIError):
    """The endpoint cannot deliver the metadata format (cannotDisseminateFormat)."""

    code = "cannotDisseminateFormat"


class IdDoesNotExist(OAIError):
    """The identifier is unknown to the endpoint (idDoesNotExist)."""

    code = "idDoesNotExist"


class NoMetadataFormats(OAIError):
    """The endpoint offers no metadata formats (noMetadataFormats)."""

    code = "noMetadataFormats"


class NoSetHierarchy(OAIError):
    """The endpoint does not support sets (noSetHierarchy)."""

    code = "noSetHierarchy"


OAI_ERRORS_BY_CODE: dict[str, type[OAIError]] = {
    cls.code: cls
    for cls in (
        BadArgument,
        BadResumptionToken,
        BadVerb,
        CannotDisseminateFormat,
        IdDoesNotExist,
        NoMetadataFormats,
        NoSetHierarchy,
    )
}


class PageIntegrityError(EndpointError):
    """A page failed its integrity checks (token did not move, counts do not add up)."""


class IncompleteHarvest(EndpointError):
    """The records received do not add up to the completeListSize the server announced."""


class ErrorBudgetExceeded(EndpointError):
    """Too many records of this run were quarantined: the source looks broken."""


class HarvestsFailed(EndpointError):
    """Some harvests of a run failed; the others went on (each is resumed by the next run)."""


# --- records and storage -----------------------------------------------------------------


class RecordMappingError(RepecHarvestError):
    """A record cannot be mapped to rows; it goes to quarantine."""


class SchemaViolation(RepecHarvestError):
    """Rows do not fit their Arrow schema."""


class WarehouseError(RepecHarvestError):
    """The warehouse cannot be used."""


class WriteConflict(WarehouseError):
    """A commit kept losing races with other writers of the warehouse."""

    transient = True


class QueryError(RepecHarvestError):
    """The SQL query failed."""


class BadParameter(QueryError):
    """A request's parameter is not valid."""


class ReadOnlyViolation(QueryError):
    """`sql` is read-only: the statement was refused."""

    exit_code = 2


class CitationSourceError(RepecHarvestError):
    """The citation source is not a citation file; the previous graph is kept."""


class ArchiveError(RepecHarvestError):
    """The raw page archive is missing or damaged."""


class SourceFileUnreadable(RepecHarvestError):
    """A source file cannot be read (permissions, an I/O error); the other files still load."""
