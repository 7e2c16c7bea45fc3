// Package all builds the registry of every connector idsync ships.
package all

import (
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/ldap"
	"github.com/idsync/idsync/connectors/scim"
)

// Registry maps each connection type to a fresh config of its connector.
func Registry() connectors.Registry {
	return connectors.Registry{
		"ldap": func() connectors.Config { return new(ldap.Config) },
		"scim": func() connectors.Config { return new(scim.Config) },
	}
}
