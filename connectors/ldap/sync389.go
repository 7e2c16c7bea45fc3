package ldap

import (
	"context"
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
// match filter, by nsUniqueId: those come back as changed entries, and the
// others as deleted, since they are out of scope now.
func (c *ldapConnector) scopedSync(ctx context.Context, conn *ldap.Conn, base, filter string, attrs []string, cookie []byte) (syncResult, error) {
	if c.tracking != sync389 {
		return c.syncSearch(ctx, conn, base, filter, attrs, cookie)
	}
	r, err := c.syncSearch(ctx, conn, base, syncAll, []string{"1.1"}, cookie)
	if err != nil || r.present || len(r.changed) == 0 {
		return r, err
	}
	attrs = append(slices.Clone(attrs), "nsUniqueId")
	found := make(map[string]bool, len(r.changed))
	var entries []*ldap.Entry
	for batch := range slices.Chunk(r.changed, rescopeBatch) {
		var f strings.Builder
		f.WriteString("(&" + filter + "(|")
		for _, key := range batch {
			id, _ := nsUniqueIDOf(key)
			fmt.Fprintf(&f, "(nsUniqueId=%s)", ldap.EscapeFilter(id))
		}
		f.WriteString("))")
		err := c.pagedSearch(ctx, conn, base, f.String(), attrs, func(e *ldap.Entry) error {
			found[syncKey(e.GetEqualFoldAttributeValue("nsUniqueId"))] = true
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("read back the changed entries: %w", err)
		}
	}
	changed := r.changed
	r.entries, r.changed = entries, nil
	for _, key := range changed {
		if found[key] {
			r.changed = append(r.changed, key)
		} else {
			r.deleted = append(r.deleted, key)
		}
	}
	return r, nil
}
