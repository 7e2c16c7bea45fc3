package scim

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// pendingManagers are the users written without their manager, because
// the source listed them before it: by target id, the manager's
// ExternalID. When this connection creates the manager, it sets theirs
// (settleManagers); a full sync that runs on without the connection sets
// them anyway, as it reads them without one.
type pendingManagers struct {
	mu sync.Mutex
	m  map[string]string
}

// awaitManager notes whether user id waits for its manager: it does when
// the manager wanted (an ExternalID) was not found (managerID "").
func (c *scimConnector) awaitManager(id, want, managerID string) {
	c.pending.mu.Lock()
	defer c.pending.mu.Unlock()
	if want == "" || managerID != "" {
		delete(c.pending.m, id)
		return
	}
	if c.pending.m == nil {
		c.pending.m = map[string]string{}
	}
	c.pending.m[id] = want
}

// settleManagers sets the manager of the users that waited for the user
// whose ExternalID is ext, just created as id. A failure is logged, not
// returned: the manager was created, and the next full sync sets a
// manager that a user reads without.
func (c *scimConnector) settleManagers(ctx context.Context, ext, id string) {
	if ext == "" {
		return
	}
	var waiting []string
	c.pending.mu.Lock()
	for _, uid := range slices.Sorted(maps.Keys(c.pending.m)) {
		if c.pending.m[uid] == ext {
			waiting = append(waiting, uid)
			delete(c.pending.m, uid)
		}
	}
	c.pending.mu.Unlock()
	for _, uid := range waiting {
		err := c.replace(ctx, userPath(uid), func(res map[string]any) bool { applyManager(res, id); return true })
		if err != nil {
			c.logger.WarnContext(ctx, "could not set a manager once it was created; the next full sync sets it", "user_id", uid, "manager_id", id, "error", err)
		}
	}
}
