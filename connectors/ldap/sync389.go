package ldap

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// syncAll is the filter of 389-ds's sync searches: every entry under the
// base. The Content Synchronization plugin evaluates the search filter on
// an entry's new state only, so an entry that stops matching it is never
// reported; syncing everything and reading the changed entries back with
// the scope's filter reports it as deleted.
const syncAll = "(objectClass=*)"

// rescopeBatch is how many changed entries one read-back search asks for.
const rescopeBatch = 50

// scopedSync runs the refreshOnly sync of one base. On OpenLDAP it is a
// sync search with filter. On 389-ds (see syncAll) it syncs every entry
// under base, without attributes, then reads the changed entries that
// match filter back by nsUniqueId: those come back as changed entries, and
// the others as deleted, since they are out of scope now.
func (c *ldapConnector) scopedSync(ctx context.Context, conn *ldap.Conn, base, filter string, attrs []string, cookie []byte) (syncResult, error) {
	if c.tracking != sync389 {
		return c.syncSearch(ctx, conn, base, filter, attrs, cookie)
	}
	r, err := c.syncSearch(ctx, conn, base, syncAll, []string{"1.1"}, cookie)
	if err != nil || r.present || len(r.changed) == 0 {
		return r, err
	}
	changed := r.changed
	r.entries, r.changed, err = c.readBack(ctx, conn, base, filter, attrs, changed)
	if err != nil {
		return r, fmt.Errorf("read back the changed entries: %w", err)
	}
	r.deleted = append(r.deleted, without(changed, r.changed)...)
	return r, nil
}

// syncUUIDAttribute is the attribute that holds what the server's content
// sync control reports as an entry's sync UUID.
func (c *ldapConnector) syncUUIDAttribute() string {
	if c.tracking == sync389 {
		return "nsUniqueId"
	}
	return "entryUUID"
}

// syncUUIDValue renders a sync key as a value of syncUUIDAttribute; ok is
// false when it is not 16 bytes in hex.
func (c *ldapConnector) syncUUIDValue(key string) (string, bool) {
	if c.tracking == sync389 {
		return nsUniqueIDOf(key)
	}
	if _, err := hex.DecodeString(key); err != nil || len(key) != 32 {
		return "", false
	}
	return key[0:8] + "-" + key[8:12] + "-" + key[12:16] + "-" + key[16:20] + "-" + key[20:32], true
}

// readBack reads the entries under base that match filter and whose sync
// UUID is one of keys (sync keys), in batches of rescopeBatch, with attrs.
// found holds the keys of the entries it read; a key that is not a sync
// UUID is never found.
func (c *ldapConnector) readBack(ctx context.Context, conn *ldap.Conn, base, filter string, attrs, keys []string) (entries []*ldap.Entry, found []string, err error) {
	idAttr := c.syncUUIDAttribute()
	attrs = dedupeFold(append(slices.Clone(attrs), idAttr))
	seen := make(map[string]bool, len(keys))
	for batch := range slices.Chunk(keys, rescopeBatch) {
		var f strings.Builder
		f.WriteString("(&" + filter + "(|")
		n := 0
		for _, key := range batch {
			if v, ok := c.syncUUIDValue(key); ok {
				fmt.Fprintf(&f, "(%s=%s)", idAttr, ldap.EscapeFilter(v))
				n++
			}
		}
		f.WriteString("))")
		if n == 0 {
			continue
		}
		err := c.pagedSearch(ctx, conn, base, f.String(), attrs, func(e *ldap.Entry) error {
			if k := syncKey(e.GetEqualFoldAttributeValue(idAttr)); k != "" && !seen[k] {
				seen[k] = true
				found = append(found, k)
			}
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return entries, found, nil
}
