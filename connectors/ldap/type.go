package ldap

import (
	"time"

	"github.com/idsync/idsync/connectors"
)

// Type is the "ldap" connection type: OpenLDAP, 389 Directory Server and
// Active Directory (see Profile), as a source and as a target.
var Type = connectors.Type{
	New:     func() connectors.Config { return new(Config) },
	Summary: "an LDAP directory (OpenLDAP, 389-ds, Active Directory), as a source and as a target",
	// Directories change all day and answer a change query cheaply: poll
	// every 2–3 minutes; a broken one is retried after 30 minutes.
	Cadence: connectors.Cadence{PollInterval: 2 * time.Minute, PollJitter: time.Minute,
		BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour},
	Flags: []connectors.Flag{
		{Name: "url", Key: "url", Help: "ldap:// or ldaps:// URL of the directory"},
		{Name: "base-dn", Key: "baseDn", Help: "the naming context to read"},
		{Name: "bind-dn", Key: "bindDn", Help: "the service account's DN"},
		{Name: "bind-password", Key: "bindPassword", Help: "secret reference (env:NAME or file:PATH) to the bind password"},
	},
	Examples: []string{
		`starter connection create corp-ldap --type ldap --url ldap://127.0.0.1:3389 \
    --base-dn dc=example,dc=org --bind-dn cn=admin,dc=example,dc=org --bind-password env:LDAP_PASSWORD \
    --webhook-secret env:CORP_LDAP_WEBHOOK_KEY`,
		`starter connection create ad --type ldap --url ldaps://dc1.corp.example:636 --set profile=activedirectory \
    --base-dn DC=corp,DC=example --bind-dn 'CN=idsync,OU=Service,DC=corp,DC=example' --bind-password env:AD_PASSWORD`,
	},
}

// PushesChanges implements connectors.Pusher: with realtime set, the
// worker keeps a persistent search open (see Watch).
func (c *Config) PushesChanges() bool { return c.Realtime }
