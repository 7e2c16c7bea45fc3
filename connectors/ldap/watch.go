package ldap

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

var _ connectors.Watcher = (*ldapConnector)(nil)

// Watch implements connectors.Watcher with a refreshAndPersist content
// sync (RFC 4533) over the base DN, from a cookie taken just before, so
// that the server sends nothing up front and then one message per change.
// Only the fact of a change is used: the rule's poll reads what changed,
// with its own cursor, so a missed or doubled notice loses nothing.
func (c *ldapConnector) Watch(ctx context.Context, changed func()) error {
	return c.watch(ctx, func(string) { changed() }, func() {})
}

// watch is Watch that also tells changed the DN of each entry reported,
// and calls live once the server has ended the refresh phase, after which
// every change is reported as it happens: tests wait on these events
// rather than on the clock.
func (c *ldapConnector) watch(ctx context.Context, changed func(dn string), live func()) error {
	if !c.cfg.Realtime {
		return connectors.ErrWatchOff
	}
	if c.tracking != syncOpenLDAP {
		return errors.New("ldap: real-time mode needs a server with the content sync control in OpenLDAP's manner (syncprov); poll instead")
	}
	// The cookie comes from a connection of its own: the persistent search
	// gets a connection that nothing else ever touches.
	var start syncResult
	if err := c.withConn(ctx, func(conn *ldap.Conn) (err error) {
		start, err = c.syncSearch(ctx, conn, c.cfg.BaseDN, matchNothing, []string{"1.1"}, nil)
		return err
	}); err != nil {
		return fmt.Errorf("ldap: watch: take a cookie: %w", err)
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil)
	resp := conn.Syncrepl(ctx, req, 16, ldap.SyncRequestModeRefreshAndPersist, start.cookie, false)
	c.logger.Info("watching the directory for changes", "base_dn", c.cfg.BaseDN)
	for resp.Next() {
		if e := resp.Entry(); e != nil {
			changed(e.DN)
		} else if refreshDone(resp.Controls()) {
			live()
		}
	}
	if err := resp.Err(); err != nil {
		return fmt.Errorf("ldap: watch: %w", classify(err))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("ldap: watch: the server ended the persistent search")
}

// refreshDone reports whether the controls of an intermediate message
// hold the sync info that ends a refreshAndPersist search's refresh phase
// (RFC 4533, section 3.4).
func refreshDone(ctrls []ldap.Control) bool {
	for _, ctrl := range ctrls {
		info, ok := ctrl.(*ldap.ControlSyncInfo)
		if !ok {
			continue
		}
		if info.RefreshDelete != nil && info.RefreshDelete.RefreshDone ||
			info.RefreshPresent != nil && info.RefreshPresent.RefreshDone {
			return true
		}
	}
	return false
}
