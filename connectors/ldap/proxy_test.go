package ldap

import (
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/peers"
)

// ldapProxy is a counting proxy (see peers.LDAPProxy) that ends with the
// test.
type ldapProxy struct{ *peers.LDAPProxy }

// startProxy listens on a free loopback port in front of the server at
// url (ldap://host:port); it stops when the test ends.
func startProxy(t *testing.T, url string) *ldapProxy {
	t.Helper()
	p, err := peers.StartLDAPProxy(strings.TrimPrefix(url, "ldap://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &ldapProxy{p}
}

// proxyCounts is what clients sent through the proxy so far.
type proxyCounts struct {
	Searches, Binds, Conns int
}

func (p *ldapProxy) counts() proxyCounts {
	ops := p.Ops()
	_, conns := p.Counts()
	return proxyCounts{Searches: ops["search"], Binds: ops["bind"], Conns: conns}
}

// during returns what clients sent through the proxy while fn ran.
func (p *ldapProxy) during(fn func()) proxyCounts {
	before := p.counts()
	fn()
	after := p.counts()
	return proxyCounts{Searches: after.Searches - before.Searches, Binds: after.Binds - before.Binds, Conns: after.Conns - before.Conns}
}
