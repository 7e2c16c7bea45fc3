package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"golang.org/x/sync/errgroup"

	"github.com/idsync/idsync/connectors"
)

// An update-only target (connectors.UpdateOnly) is another system of
// record taking write-back: Workday receives the work email, phone and
// username that a directory assigns. Its records are not idsync's: none is
// created, deprovisioned, deleted or owned, whatever the rule's settings,
// and so a full resync into it cannot deprovision anything by accident.
// Each source user is matched to at most one record by the rule's match
// attributes, and only the fields the target updates are compared and
// written, so that a record already right costs no write (in Workday each
// write starts a business process).

// updateOnly is the target as an update-only one.
func (s *Syncer) updateOnly() (connectors.UpdateOnly, bool) {
	// Not capability: the ownership layer has no UpdatedFields to offer.
	uo, ok := rawTarget(s.Target).(connectors.UpdateOnly)
	return uo, ok
}

// rawTarget is the connector's target without the rule's ownership layer,
// which has nothing to do for records that no rule owns.
func rawTarget(t connectors.Target) connectors.Target {
	if ot, ok := t.(*ownedTarget); ok {
		return ot.Target
	}
	return t
}

// writeBackIndex holds the target's records by lower-cased match value.
type writeBackIndex map[string]map[string][]connectors.TargetUser

// find returns the one record the ranked match attributes find for u. A
// value that finds several records is a conflict: writing to one of them
// could overwrite another person's contact data.
func (idx writeBackIndex) find(u connectors.User, attrs []string) (connectors.TargetUser, bool, error) {
	for _, a := range attrs {
		v := matchValue(u, a)
		if v == "" {
			continue
		}
		switch hits := idx[a][v]; len(hits) {
		case 0:
			continue
		case 1:
			return hits[0], true, nil
		default:
			return connectors.TargetUser{}, false, conflictf("%d target records have %s %q: none is updated", len(hits), a, v)
		}
	}
	return connectors.TargetUser{}, false, nil
}

// syncUpdateOnly is SyncUsers for an update-only target: it reads every
// record once, and writes only the records whose updated fields differ.
func (s *Syncer) syncUpdateOnly(ctx context.Context, uo connectors.UpdateOnly) (Result, error) {
	o := s.opts()
	target := rawTarget(s.Target)
	idx := writeBackIndex{}
	for _, a := range o.MatchAttributes {
		idx[a] = map[string][]connectors.TargetUser{}
	}
	n := 0
	err := target.ListUsers(ctx, func(tu connectors.TargetUser) error {
		n++
		s.progress("target users", n)
		for _, a := range o.MatchAttributes {
			if v := matchValue(tu.User, a); v != "" {
				idx[a][v] = append(idx[a][v], tu)
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("list target users (%d read): %w", n, err)
	}
	fields := uo.UpdatedFields()
	t := s.newTally(KindUser)
	seen := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	n = 0
	err = s.Source.ListUsers(ctx, func(u connectors.User) error {
		if err := gctx.Err(); err != nil {
			return err
		}
		if u.ExternalID == "" || seen[u.ExternalID] {
			return nil
		}
		seen[u.ExternalID] = true
		n++
		s.progress("users", n)
		s.tally("users", n, t)
		if e := t.err(); e != nil {
			return e
		}
		cur, found, err := idx.find(u, o.MatchAttributes)
		switch {
		case err != nil:
			t.fail("write back user "+u.ExternalID, err)
		case !found:
			t.add(func(c *Counts) { c.Unmatched++ })
		default:
			g.Go(func() error {
				writeBack(gctx, target, t, cur, u, fields, o)
				return nil
			})
		}
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err == nil {
		err = t.err()
	}
	if err != nil {
		return Result{}, fmt.Errorf("users: %w", err)
	}
	c := t.counts
	res := Result{Users: c, ManagedUsers: c.Updated + c.Unchanged, Failures: t.failures}
	res.addObjects(t.objects, t.objectsDropped)
	return res, nil
}

// writeBack updates cur with u's values of fields where they differ. An
// empty source value is not written: it means the source has not assigned
// one yet, and clearing a record's email is never what write-back is for.
func writeBack(ctx context.Context, target connectors.Target, t *tally, cur connectors.TargetUser, u connectors.User, fields []string, o Options) {
	want, changed := cur.User, false
	for _, f := range fields {
		v := u.Field(f)
		if v == "" || v == cur.User.Field(f) {
			continue
		}
		if !changed && want.Attributes != nil {
			want.Attributes = maps.Clone(want.Attributes)
		}
		want.SetField(f, v)
		changed = true
	}
	if !changed {
		t.add(func(c *Counts) { c.Unchanged++ })
		return
	}
	if !o.DryRun {
		if err := target.UpdateUser(ctx, cur.ID, want); err != nil {
			t.fail("write back user "+u.ExternalID+" to "+cur.ID, err)
			return
		}
	}
	t.did(ActionUpdated, u.UserName, u.ExternalID)
}

// writeBackUser is upsertUser for an update-only target: it looks the
// record up by the ranked match attributes, one request each.
func (r *incremental) writeBackUser(ctx context.Context, uo connectors.UpdateOnly, u connectors.User) {
	target := rawTarget(r.s.Target)
	for _, a := range r.o.MatchAttributes {
		v := matchValue(u, a)
		if v == "" {
			continue
		}
		found, err := target.LookupUsers(ctx, a, v)
		if errors.Is(err, connectors.ErrLookupUnsupported) {
			continue
		}
		if err != nil {
			r.users.fail("write back user "+u.ExternalID, fmt.Errorf("look up by %s: %w", a, err))
			return
		}
		var hits []connectors.TargetUser
		for _, tu := range found {
			if matchValue(tu.User, a) == v {
				hits = append(hits, tu)
			}
		}
		switch len(hits) {
		case 0:
			continue
		case 1:
			writeBack(ctx, target, r.users, hits[0], u, uo.UpdatedFields(), r.o)
		default:
			r.users.fail("write back user "+u.ExternalID,
				conflictf("%d target records have %s %q: none is updated", len(hits), a, v))
		}
		return
	}
	r.users.add(func(c *Counts) { c.Unmatched++ })
}
