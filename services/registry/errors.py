"""Every error the registry answers with, by Confluent's numeric code.

Clients of Confluent's registry match on these numbers, so they and their
HTTP statuses follow Confluent's; the messages follow its wording closely
enough for a person who knows it. Each builds one of the registry classes of
weir/errors.py, so the rest of Weir sees the same taxonomy.
"""

from __future__ import annotations

from weir.errors import (
    RegistryError,
    RegistryNotFoundError,
    RegistryStoreError,
    SchemaIncompatibleError,
    SchemaInvalidError,
)

SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_CONFIG_NOT_FOUND = 40408
SUBJECT_MODE_NOT_FOUND = 40409
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
INVALID_MODE = 42204
OPERATION_NOT_PERMITTED = 42205
REFERENCE_EXISTS = 42206
STORE_ERROR = 50001
OPERATION_TIMEOUT = 50002

MAX_VERSION = 2**31 - 1


def subject_not_found(subject: str) -> RegistryError:
    return RegistryNotFoundError(f"Subject '{subject}' not found.", error_code=SUBJECT_NOT_FOUND)


def version_not_found(subject: str, version: int | str) -> RegistryError:
    return RegistryNotFoundError(
        f"Version {version} not found for subject '{subject}'.", error_code=VERSION_NOT_FOUND
    )


def schema_not_found(detail: str) -> RegistryError:
    return RegistryNotFoundError(f"Schema {detail} not found", error_code=SCHEMA_NOT_FOUND)


def subject_soft_deleted(subject: str) -> RegistryError:
    return RegistryNotFoundError(
        f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
        error_code=SUBJECT_SOFT_DELETED,
    )


def subject_not_soft_deleted(subject: str) -> RegistryError:
    return RegistryNotFoundError(
        f"Subject '{subject}' was not deleted first before being permanently deleted",
        error_code=SUBJECT_NOT_SOFT_DELETED,
    )


def version_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryNotFoundError(
        f"Subject '{subject}' Version {version} was soft deleted. "
        "Set permanent=true to delete permanently",
        error_code=VERSION_SOFT_DELETED,
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryNotFoundError(
        f"Subject '{subject}' Version {version} was not deleted first before being "
        "permanently deleted",
        error_code=VERSION_NOT_SOFT_DELETED,
    )


def subject_config_not_found(subject: str) -> RegistryError:
    return RegistryNotFoundError(
        f"Subject '{subject}' does not have subject-level compatibility configured",
        error_code=SUBJECT_CONFIG_NOT_FOUND,
    )


def subject_mode_not_found(subject: str) -> RegistryError:
    return RegistryNotFoundError(
        f"Subject '{subject}' does not have subject-level mode configured",
        error_code=SUBJECT_MODE_NOT_FOUND,
    )


def incompatible(subject: str, messages: list[str]) -> RegistryError:
    return SchemaIncompatibleError(
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
        f"details: [{'; '.join(messages)}]",
        error_code=INCOMPATIBLE_SCHEMA,
        detail={"messages": messages},
    )


def invalid_schema(reason: str) -> RegistryError:
    return SchemaInvalidError(reason, error_code=INVALID_SCHEMA)


def invalid_version(version: str) -> RegistryError:
    return RegistryError(
        f"The specified version '{version}' is not a valid version id. Allowed values are "
        f'between [1, {MAX_VERSION}] and the string "latest"',
        error_code=INVALID_VERSION,
    )


def invalid_compatibility_level(level: object, valid: list[str]) -> RegistryError:
    return RegistryError(
        f"Invalid compatibility level {level!r}. Valid values are {', '.join(valid)}",
        error_code=INVALID_COMPATIBILITY_LEVEL,
    )


def invalid_mode(mode: object, valid: list[str]) -> RegistryError:
    return RegistryError(
        f"Invalid mode {mode!r}. Valid values are {', '.join(valid)}", error_code=INVALID_MODE
    )


def not_permitted(reason: str) -> RegistryError:
    return RegistryError(reason, error_code=OPERATION_NOT_PERMITTED)


def reference_exists(subject: str, version: int) -> RegistryError:
    return RegistryError(
        f"One or more references exist to the schema {{subject={subject}, version={version}}}",
        error_code=REFERENCE_EXISTS,
    )


def bad_request(reason: str) -> RegistryError:
    return RegistryError(reason, error_code=400)


def store_error(reason: str) -> RegistryError:
    return RegistryStoreError(f"Error in the backend data store: {reason}", error_code=STORE_ERROR)


def store_timeout(reason: str) -> RegistryError:
    return RegistryStoreError(reason, error_code=OPERATION_TIMEOUT)
