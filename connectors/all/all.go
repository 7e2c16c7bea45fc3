// Package all builds the registry of every connector idsync ships. Adding
// a connector is one line here; everything else lives in its folder.
package all

import (
	"maps"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/google"
	"github.com/idsync/idsync/connectors/graph"
	"github.com/idsync/idsync/connectors/ldap"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/connectors/scim"
	"github.com/idsync/idsync/connectors/workday"
	"github.com/idsync/idsync/connectors/workos"
)

// Registry maps each connection type to its connector's Type: google,
// graph, ldap, workday, workos, memory (tests and demos), and the
// SCIM-based targets (scim, slack, zoom, github-emu, aquera).
func Registry() connectors.Registry {
	r := connectors.Registry{
		"google":  google.Type,
		"graph":   graph.Type,
		"ldap":    ldap.Type,
		"memory":  memory.Type,
		"workday": workday.Type,
		"workos":  workos.Type,
	}
	maps.Copy(r, scim.Types())
	return r
}
