package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Typed search attributes. The Web UI's workflow list can show them as
// columns and filter on them (SyncState="circuit_open"); the server holds
// them, so they are visible even when no worker answers a query.
//
// Every name here must be registered with the server: the Makefile passes
// them to the dev server and docker-compose.yml's admin-tools job registers
// them (a test keeps both in step with SearchAttributes).
var (
	SAKind                = temporal.NewSearchAttributeKeyKeyword("IdsyncKind")
	SASyncState           = temporal.NewSearchAttributeKeyKeyword("SyncState")
	SASourceConnection    = temporal.NewSearchAttributeKeyKeyword("SourceConnection")
	SATargetConnection    = temporal.NewSearchAttributeKeyKeyword("TargetConnection")
	SASourceType          = temporal.NewSearchAttributeKeyKeyword("SourceType")
	SATargetType          = temporal.NewSearchAttributeKeyKeyword("TargetType")
	SAConnectionType      = temporal.NewSearchAttributeKeyKeyword("ConnectionType")
	SALastSyncTime        = temporal.NewSearchAttributeKeyTime("LastSyncTime")
	SAConsecutiveFailures = temporal.NewSearchAttributeKeyInt64("ConsecutiveFailures")
	SAFailedObjects       = temporal.NewSearchAttributeKeyInt64("FailedObjects")
)

// SearchAttribute is a custom search attribute with its server-side type.
type SearchAttribute struct {
	Name string
	Type enums.IndexedValueType
}

// SearchAttributes lists every custom search attribute idsync writes.
func SearchAttributes() []SearchAttribute {
	return []SearchAttribute{
		{SAKind.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SASyncState.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SASourceConnection.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SATargetConnection.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SASourceType.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SATargetType.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SAConnectionType.GetName(), enums.INDEXED_VALUE_TYPE_KEYWORD},
		{SALastSyncTime.GetName(), enums.INDEXED_VALUE_TYPE_DATETIME},
		{SAConsecutiveFailures.GetName(), enums.INDEXED_VALUE_TYPE_INT},
		{SAFailedObjects.GetName(), enums.INDEXED_VALUE_TYPE_INT},
	}
}
