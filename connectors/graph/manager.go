package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/idsync/idsync/connectors"
)

// attrManager is the canonical attribute that names a user's manager:
// the manager's ExternalID (connectors.User.Attributes).
const attrManager = "manager"

// userQuery is "?"+q with the $select of every user read (only what is
// mapped) and the manager expanded to its id and ExternalID: one request
// reads both, where a GET of /users/{id}/manager per user would double
// a listing's cost ($expand adds one resource unit per request, not
// per user).
func (c *graphConnector) userQuery(q url.Values) string {
	q.Set("$select", c.userSelect())
	q.Set("$expand", "manager($select=id,"+c.extAttr+")")
	return query(q)
}

// expandedManager is the manager of a user read through userQuery:
// its object id and ExternalID, both "" when the user has none.
func (c *graphConnector) expandedManager(raw json.RawMessage) (id, ext string) {
	var m struct {
		Manager map[string]any `json:"manager"`
	}
	_ = json.Unmarshal(raw, &m) // toUser has already refused a malformed user
	return str(m.Manager, "id"), str(m.Manager, c.extAttr)
}

// noteManager remembers what a user's manager is, as read or written:
// the ExternalID of a manager idsync manages, "" for none or for one it
// does not manage (a reference idsync did not make is left alone).
func (c *graphConnector) noteManager(userID, managerID, managerExt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.managers[userID] = managerExt
	if managerExt != "" && managerID != "" {
		c.known[managerExt] = managerID
	}
}

// setManager makes the manager of user id the user whose ExternalID is
// want, or none when want is "": PUT /users/{id}/manager/$ref
// (https://learn.microsoft.com/en-us/graph/api/user-post-manager) or
// DELETE it (user-delete-manager). Nothing is sent when the manager
// read last is already want. A manager that is not in Entra ID yet (the
// source lists a report before the manager) is not an error: the user
// is written without it, and the reference is made when this connection
// creates the manager (see settleManagers) or, failing that, by the next
// full sync, which reads the user without its manager and writes it
// again.
func (c *graphConnector) setManager(ctx context.Context, id, want string) error {
	c.mu.Lock()
	have, known := c.managers[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if known && have == want {
		return nil
	}
	if want == "" {
		return c.clearManager(ctx, id, known)
	}
	for attempt := 0; ; attempt++ {
		mid, err := c.resolveUser(ctx, want)
		if err != nil {
			return fmt.Errorf("find the manager: %w", err)
		}
		switch mid {
		case "":
			c.mu.Lock()
			c.pending[id] = want
			c.mu.Unlock()
			c.logger.DebugContext(ctx, "manager not in Entra ID yet; set when it is created or by the next full sync", "user_id", id, "manager_external_id", want)
			return nil
		case id:
			c.logger.WarnContext(ctx, "a user cannot be its own manager; left unset", "user_id", id)
			return nil
		}
		err = c.retryFresh(ctx, func() error {
			return c.do(ctx, http.MethodPut, "/users/"+url.PathEscape(id)+"/manager/$ref", map[string]string{"@odata.id": c.base + "/users/" + mid}, nil)
		}, id, mid)
		if err == nil {
			c.noteManager(id, mid, want)
			return nil
		}
		if !isNotFound(err) {
			return fmt.Errorf("set the manager to %s: %w", mid, err)
		}
		if attempt > 0 {
			// A 404 about the manager, found a moment ago: not wrapped,
			// since ErrNotFound would make the engine take the user for
			// gone; a retry may succeed.
			return fmt.Errorf("set the manager to %s: %s", mid, err)
		}
		// The manager this connection knew is gone (deleted by someone
		// else): look it up again, once.
		c.forget(mid)
	}
}

// clearManager removes the manager of user id. When the manager is not
// known from a read, it is read first: a manager idsync does not manage
// (set by an administrator) is left alone, as it is when known.
func (c *graphConnector) clearManager(ctx context.Context, id string, known bool) error {
	if !known {
		var raw json.RawMessage
		err := c.retryFresh(ctx, func() error {
			return c.do(ctx, http.MethodGet, "/users/"+url.PathEscape(id)+"/manager"+query(url.Values{"$select": {"id," + c.extAttr}}), nil, &raw)
		}, id)
		if errors.Is(err, connectors.ErrNotFound) {
			c.noteManager(id, "", "")
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the manager: %w", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("read the manager: malformed answer: %w", err)
		}
		if str(m, c.extAttr) == "" {
			c.noteManager(id, "", "")
			return nil
		}
	}
	err := c.retryFresh(ctx, func() error {
		return c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(id)+"/manager/$ref", nil, nil)
	}, id)
	if err != nil && !errors.Is(err, connectors.ErrNotFound) { // 404: no manager, done
		return fmt.Errorf("remove the manager: %w", err)
	}
	c.noteManager(id, "", "")
	return nil
}

// resolveUser is the object id of the user whose ExternalID is ext, ""
// when there is none: from what this connection has read or written,
// else by a lookup.
func (c *graphConnector) resolveUser(ctx context.Context, ext string) (string, error) {
	if id, ok := c.KnownUserID(ext); ok {
		return id, nil
	}
	found, err := c.LookupUsers(ctx, connectors.MatchExternalID, ext)
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		return "", nil
	}
	return found[0].ID, nil
}

// settleManagers makes the references that waited for the user whose
// ExternalID is ext, just created as id. A failure is logged, not
// returned: the user was created, and the next full sync sets the
// manager of a user that reads without it.
func (c *graphConnector) settleManagers(ctx context.Context, ext, id string) {
	if ext == "" {
		return
	}
	var waiting []string
	c.mu.Lock()
	for uid, want := range c.pending {
		if want == ext {
			waiting = append(waiting, uid)
		}
	}
	c.mu.Unlock()
	for _, uid := range waiting {
		if err := c.setManager(ctx, uid, ext); err != nil {
			c.logger.WarnContext(ctx, "could not set a manager once it was created; the next full sync sets it", "user_id", uid, "manager_id", id, "error", err)
		}
	}
}
