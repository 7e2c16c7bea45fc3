package activities

import (
	"context"
	"fmt"

	"github.com/idsync/idsync/connectors"
)

// SecretCheck is what a worker found of a connection's secret references
// when asked before the connection was stored: which resolve there, never
// their values, so that nothing secret enters the workflow's history.
type SecretCheck struct {
	// Error: the worker refuses the settings themselves; no reference was
	// resolved.
	Error string `json:"error,omitempty"`
	// Refs are the settings' references and the webhook secret's, in the
	// order of the Config's fields.
	Refs []SecretStatus `json:"refs,omitempty"`
}

// SecretStatus says whether one reference resolves on the worker.
type SecretStatus struct {
	connectors.SecretRef
	OK bool `json:"ok"`
	// Error is why it does not resolve (names the reference, not a value).
	Error string `json:"error,omitempty"`
}

// Failed lists the references that do not resolve.
func (c SecretCheck) Failed() []SecretStatus {
	var out []SecretStatus
	for _, r := range c.Refs {
		if !r.OK {
			out = append(out, r)
		}
	}
	return out
}

// CheckSecrets validates a connection's settings on the worker and
// resolves each of its secret references, as Open would, without
// connecting to anything: `connection create` and `update` run it so that
// a mistyped env:NAME is caught then rather than at the first poll. A
// failed check is a result, not an activity error.
func (a *Activities) CheckSecrets(_ context.Context, conn connectors.Connection) (SecretCheck, error) {
	cfg, err := a.Registry.Parse(conn.Type, conn.Settings)
	if err != nil {
		return SecretCheck{Error: fmt.Sprintf("connection %q: %v", conn.Name, err)}, nil
	}
	refs := connectors.SecretRefs(cfg)
	if conn.WebhookSecret != "" {
		refs = append(refs, connectors.SecretRef{Setting: "webhookSecret", Ref: conn.WebhookSecret})
	}
	var res SecretCheck
	for _, ref := range refs {
		st := SecretStatus{SecretRef: ref}
		v, err := connectors.ResolveSecret(ref.Ref)
		switch {
		case err != nil:
			st.Error = err.Error()
		case v == "":
			// Open refuses an empty secret too (scim, ldap).
			st.Error = fmt.Sprintf("secret reference %q resolves to an empty value", ref.Ref)
		default:
			st.OK = true
		}
		res.Refs = append(res.Refs, st)
	}
	a.baseLogger().Info("checked secret references", "connection", conn.Name, "references", len(res.Refs), "failed", len(res.Failed()))
	return res, nil
}
