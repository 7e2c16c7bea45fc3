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
// the manager wanted (an ExternalID) was not found (managerID ""). The
// manager may have been created, and its waiting reports settled, while
// id was being written (after id's lookup, before this): then id is set
// here, at once, and does not wait for a create that has happened.
func (c *scimConnector) awaitManager(ctx context.Context, id, want, managerID string) {
	c.pending.mu.Lock()
	if want == "" || managerID != "" {
		delete(c.pending.m, id)
		c.pending.mu.Unlock()
		return
	}
	if c.pending.m == nil {
		c.pending.m = map[string]string{}
	}
	c.pending.m[id] = want
	c.pending.mu.Unlock()
	if mid, ok := c.ids.id(want); ok && mid != "" {
		c.settle(ctx, mid, c.takePending(want, id))
	}
}

// settleManagers sets the manager of the users that waited for the user
// whose ExternalID is ext, just created as id.
func (c *scimConnector) settleManagers(ctx context.Context, ext, id string) {
	if ext == "" {
		return
	}
	c.settle(ctx, id, c.takePending(ext, ""))
}

// takePending removes and returns the users waiting for the manager want
// (only that one, when only is not ""): whoever takes one sets its
// manager, so that it is set once.
func (c *scimConnector) takePending(want, only string) []string {
	c.pending.mu.Lock()
	defer c.pending.mu.Unlock()
	var taken []string
	for _, uid := range slices.Sorted(maps.Keys(c.pending.m)) {
		if (only == "" || uid == only) && c.pending.m[uid] == want {
			taken = append(taken, uid)
			delete(c.pending.m, uid)
		}
	}
	return taken
}

// settle sets managerID as the manager of users. A failure is logged,
// not returned: the user was written, and the next full sync sets a
// manager that a user reads without.
func (c *scimConnector) settle(ctx context.Context, managerID string, users []string) {
	for _, uid := range users {
		err := c.replace(ctx, userPath(uid), func(res map[string]any) bool { applyManager(res, managerID); return true })
		if err != nil {
			c.logger.WarnContext(ctx, "could not set a manager once it was created; the next full sync sets it", "user_id", uid, "manager_id", managerID, "error", err)
		}
	}
}
