// Package all builds the registry of every connector idsync ships.
package all

import (
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/ldap"
	"github.com/idsync/idsync/connectors/scim"
)

// Registry maps each connection type to a fresh config of its connector:
// ldap, and the SCIM-based targets (scim, slack, zoom, github-emu, aquera).
func Registry() connectors.Registry {
	r := connectors.Registry{
		"ldap": func() connectors.Config { return new(ldap.Config) },
	}
	for name, p := range scim.Profiles {
		r[name] = func() connectors.Config { return scim.NewConfig(p) }
	}
	return r
}
