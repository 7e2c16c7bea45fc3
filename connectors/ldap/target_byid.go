package ldap

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

var _ connectors.UserReader = (*ldapTarget)(nil)

// GetUserByID implements connectors.UserReader: one search by the id
// attribute under the user base, so that an incremental run learns whether
// a group member is managed without listing the directory.
func (t *ldapTarget) GetUserByID(ctx context.Context, id string) (connectors.TargetUser, bool, error) {
	var tu connectors.TargetUser
	found := false
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		e, err := t.c.getByID(ctx, conn, t.c.cfg.UserBaseDN, t.c.cfg.UserFilter, id, t.userAttrs)
		if err != nil || e == nil {
			return err
		}
		tu, found = t.toTargetUser(e)
		return nil
	})
	if err != nil {
		return connectors.TargetUser{}, false, fmt.Errorf("ldap: read user %s: %w", id, err)
	}
	return tu, found, nil
}
