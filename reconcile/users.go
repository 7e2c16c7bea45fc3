package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/idsync/idsync/connectors"
)

// Syncer applies a source's state to a target.
type Syncer struct {
	Source connectors.Source
	Target connectors.Target
	Opts   Options
	// Progress, when set, is called now and then with the number of source
	// objects handled so far in the current phase; activities heartbeat it.
	Progress func(phase string, done int)
	// Tally, when set, is called with Progress in a full resync's phases
	// with what the phase has done so far, so that a retried attempt can
	// report what the attempts before it did (see Counts.After).
	Tally func(phase string, done Counts)
	// Named, when set, is called with every object the run writes, would
	// write (dry run) or fails to, as it does: unlike Result.Objects it
	// is not bounded, so that activities can log each one.
	Named func(Object)
	// Record, when set, reads the rule's record of the users it manages
	// (record.go; nil and no error: none kept yet). --on-missing report
	// needs it to tell a user deleted in the target from a new one.
	Record func(context.Context) (ManagedSet, error)
}

func (s *Syncer) opts() Options { return s.Opts.withDefaults() }

func (s *Syncer) tally(phase string, done int, t *tally) {
	if s.Tally != nil && done%100 == 0 {
		s.Tally(phase, t.snapshot())
	}
}

func (s *Syncer) progress(phase string, done int) {
	if s.Progress != nil && done%100 == 0 {
		s.Progress(phase, done)
	}
}

// userIndex is the target's users as a full pass sees them.
type userIndex struct {
	managed map[string]connectors.TargetUser // the rule's own, by ExternalID
	// legacy holds users written before ownership, by ExternalID: the rule
	// claims those its source has and leaves the others alone.
	legacy map[string]connectors.TargetUser
	// unmanaged maps a match attribute to lower-cased value to target ids.
	unmanaged map[string]map[string][]string
	byID      map[string]connectors.TargetUser // unmanaged users by target id
	// taken maps a lower-cased userName of a user the rule may not adopt
	// (another rule's, or one of its own for another source id) to what
	// holds it, so that a colliding source user is reported as a conflict
	// without a create that is bound to fail.
	taken   map[string]string
	foreign int
}

func (s *Syncer) indexUsers(ctx context.Context, attrs []string) (*userIndex, error) {
	idx := &userIndex{
		managed:   map[string]connectors.TargetUser{},
		legacy:    map[string]connectors.TargetUser{},
		unmanaged: map[string]map[string][]string{},
		byID:      map[string]connectors.TargetUser{},
		taken:     map[string]string{},
	}
	for _, a := range attrs {
		idx.unmanaged[a] = map[string][]string{}
	}
	n := 0
	err := s.Target.ListUsers(ctx, func(tu connectors.TargetUser) error {
		n++
		s.progress("target users", n)
		rel := s.userRelation(tu)
		if rel != unmanaged {
			if k := strings.ToLower(tu.UserName); k != "" {
				idx.taken[k] = holder(tu)
			}
		}
		switch rel {
		case own:
			idx.managed[tu.ExternalID] = tu
		case legacy:
			idx.legacy[tu.ExternalID] = tu
		case foreign:
			idx.foreign++
		default:
			idx.byID[tu.ID] = tu
			for _, a := range attrs {
				if v := matchValue(tu.User, a); v != "" {
					idx.unmanaged[a][v] = append(idx.unmanaged[a][v], tu.ID)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list target users (%d read): %w", n, err)
	}
	return idx, nil
}

// holder names who manages a target object, for conflict reports.
func holder(tu connectors.TargetUser) string {
	if tu.Owner != "" {
		return fmt.Sprintf("user %s of rule %s (source id %s)", tu.ID, tu.Owner, tu.ExternalID)
	}
	return fmt.Sprintf("user %s (source id %s)", tu.ID, tu.ExternalID)
}

// adoptable returns the one unmanaged user that matches u by the ranked
// attributes, and removes it from the index so it is adopted once.
func (idx *userIndex) adoptable(u connectors.User, attrs []string) (connectors.TargetUser, bool) {
	for _, a := range attrs {
		v := matchValue(u, a)
		if v == "" {
			continue
		}
		ids := idx.unmanaged[a][v]
		if len(ids) != 1 {
			continue // none, or ambiguous: try the next attribute
		}
		tu, ok := idx.byID[ids[0]]
		if !ok {
			continue
		}
		delete(idx.byID, tu.ID)
		for _, a2 := range attrs {
			delete(idx.unmanaged[a2], matchValue(tu.User, a2))
		}
		return tu, true
	}
	return connectors.TargetUser{}, false
}

// matchValue is the case-folded value of a match attribute.
func matchValue(u connectors.User, attr string) string {
	switch attr {
	case connectors.MatchUserName:
		return strings.ToLower(u.UserName)
	case connectors.MatchEmail:
		return strings.ToLower(u.Email)
	case connectors.MatchExternalID:
		return u.ExternalID
	}
	return strings.ToLower(u.Attributes[attr])
}

// SyncUsers is the users phase of a full resync: every in-scope source user
// exists, adopted or created, and equal in the target; every managed target
// user that is no longer in the source is deprovisioned, within the guard.
func (s *Syncer) SyncUsers(ctx context.Context) (Result, error) {
	if uo, ok := s.updateOnly(); ok {
		return s.syncUpdateOnly(ctx, uo)
	}
	s = s.owned()
	o := s.opts()
	idx, err := s.indexUsers(ctx, o.MatchAttributes)
	if err != nil {
		return Result{}, err
	}
	t := s.newTally(KindUser)
	var record recordLoader
	seen := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	n := 0
	err = s.Source.ListUsers(ctx, func(u connectors.User) error {
		if err := gctx.Err(); err != nil {
			return err // cancelled, or a write failed fatally: schedule no more
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
		cur, managed := idx.managed[u.ExternalID]
		claim := false
		if !managed {
			cur, claim = idx.legacy[u.ExternalID]
			delete(idx.legacy, u.ExternalID)
		}
		var adopt connectors.TargetUser
		adopting := false
		if !managed && !claim {
			adopt, adopting = idx.adoptable(u, o.MatchAttributes)
		}
		if !managed && !claim && !adopting && o.OnMissing == MissingReport {
			was, err := s.recorded(ctx, &record, u.ExternalID)
			if err != nil {
				return fmt.Errorf("read the rule's record of managed users: %w", err)
			}
			if was {
				t.keepManaged(u.ExternalID)
				t.fail("create user "+u.UserName+" (source id "+u.ExternalID+")",
					missingf("the rule created it before and it was deleted in the target behind idsync's back; not created again, as the rule's --on-missing is report"))
				return nil
			}
		}
		if !managed && !claim && !adopting {
			if h, ok := idx.taken[strings.ToLower(u.UserName)]; ok {
				// Known before writing: no POST that is bound to get a 409
				// on every resync.
				t.fail("create user "+u.UserName+" (source id "+u.ExternalID+")",
					conflictf("userName %q is taken by %s", u.UserName, h))
				return nil
			}
		}
		g.Go(func() error {
			switch {
			case managed:
				s.updateIfChanged(gctx, t, cur, u, o)
			case claim:
				s.adoptUser(gctx, t, cur, u, o)
			case adopting:
				s.adoptUser(gctx, t, adopt, u, o)
			default:
				s.createUser(gctx, t, u, o)
			}
			return nil
		})
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

	// The guard's share is of the active managed users: those a run can
	// deprovision. Users disabled earlier pile up in the target and must
	// not widen it.
	var gone []string
	active := 0
	for _, ext := range slices.Sorted(maps.Keys(idx.managed)) {
		if !idx.managed[ext].Active {
			continue
		}
		active++
		if !seen[ext] {
			gone = append(gone, ext)
		}
	}
	if o.Deprovision == DeprovisionNone {
		t.counts.Kept += len(gone)
		gone = nil
	}
	names := make([]string, 0, min(len(gone), maxHeldSample))
	for _, ext := range gone[:min(len(gone), maxHeldSample)] {
		names = append(names, idx.managed[ext].UserName)
	}
	apply, held, err := decide("users", gone, names, active, o)
	if err != nil {
		return Result{}, err
	}
	if !apply {
		if held == nil { // a rejected set: kept
			t.counts.Kept += len(gone)
		}
		gone = nil
	}
	for _, ext := range gone {
		tu := idx.managed[ext]
		if o.DryRun {
			t.did(ActionDeprovisioned, tu.UserName, ext)
			continue
		}
		if err := s.deprovision(ctx, tu.ID, o); err != nil && !errors.Is(err, connectors.ErrNotFound) {
			t.fail("deprovision user "+ext, err)
			if e := t.err(); e != nil {
				return Result{}, fmt.Errorf("users: %w", e)
			}
			continue
		}
		t.did(ActionDeprovisioned, tu.UserName, ext)
	}
	// Legacy users the source does not have may be another rule's: left
	// alone, and counted so that the summary says so.
	t.counts.Foreign += idx.foreign + len(idx.legacy)
	c := t.counts
	managedAfter := c.Created + c.Adopted + c.Updated + c.Unchanged + c.Kept
	res := Result{Users: c, ManagedUsers: managedAfter, Failures: t.failures}
	res.addObjects(t.objects, t.objectsDropped)
	if !o.DryRun {
		res.ManagedSet = managedSet(idx.managed, t)
	}
	if held != nil {
		res.Held = []Held{*held}
	}
	return res, nil
}

func (s *Syncer) updateIfChanged(ctx context.Context, t *tally, cur connectors.TargetUser, u connectors.User, o Options) {
	if UsersEqual(cur.User, KeptBy(s.Target, u)) && cur.Owner == o.Owner {
		t.add(func(c *Counts) { c.Unchanged++ })
		return
	}
	if !o.DryRun {
		err := s.Target.UpdateUser(ctx, cur.ID, u)
		if errors.Is(err, connectors.ErrNotFound) && o.OnMissing == MissingRecreate {
			// Deleted in the target behind idsync's back: the target must
			// match the source, so it is created again.
			s.createUser(ctx, t, u, o)
			return
		}
		if errors.Is(err, connectors.ErrNotFound) {
			t.fail("update user "+u.UserName+" (source id "+u.ExternalID+")",
				missingf("it was deleted in the target behind idsync's back; not created again, as the rule's --on-missing is report: %v", err))
			return
		}
		if err != nil {
			t.fail("update user "+u.ExternalID, err)
			return
		}
	}
	t.did(ActionUpdated, u.UserName, u.ExternalID)
}

func (s *Syncer) adoptUser(ctx context.Context, t *tally, cur connectors.TargetUser, u connectors.User, o Options) {
	if !o.DryRun {
		if err := s.Target.UpdateUser(ctx, cur.ID, u); err != nil {
			t.fail("adopt user "+u.ExternalID, err)
			return
		}
	}
	t.did(ActionAdopted, u.UserName, u.ExternalID)
}

func (s *Syncer) createUser(ctx context.Context, t *tally, u connectors.User, o Options) {
	if o.DryRun {
		t.did(ActionCreated, u.UserName, u.ExternalID)
		return
	}
	_, err := s.Target.CreateUser(ctx, u)
	if err == nil {
		t.did(ActionCreated, u.UserName, u.ExternalID)
		return
	}
	if !errors.Is(err, connectors.ErrAlreadyExists) {
		t.fail("create user "+u.ExternalID, err)
		return
	}
	// It exists after all (created by someone else meanwhile, or an earlier
	// attempt whose answer was lost): find it and adopt it, never duplicate.
	cur, found, lerr := s.lookupUser(ctx, u, o)
	switch {
	case lerr != nil:
		t.fail("create user "+u.ExternalID, lerr)
	case !found:
		t.fail("create user "+u.ExternalID, permanentf("target says it exists but no user matches it: %v", err))
	default:
		switch rel := s.userRelation(cur); {
		case rel == own && cur.ExternalID == u.ExternalID:
			s.updateIfChanged(ctx, t, cur, u, o)
		case rel == legacy && cur.ExternalID == u.ExternalID:
			s.adoptUser(ctx, t, cur, u, o) // claimed
		case rel == unmanaged:
			s.adoptUser(ctx, t, cur, u, o)
		default:
			t.fail("create user "+u.UserName+" (source id "+u.ExternalID+")", conflictf("it collides with %s", holder(cur)))
		}
	}
}

// lookupUser finds the target user for u: by ExternalID, then by the ranked
// match attributes among users idsync does not manage yet.
func (s *Syncer) lookupUser(ctx context.Context, u connectors.User, o Options) (connectors.TargetUser, bool, error) {
	found, err := s.Target.LookupUsers(ctx, connectors.MatchExternalID, u.ExternalID)
	if err != nil {
		return connectors.TargetUser{}, false, fmt.Errorf("look up user by externalId: %w", err)
	}
	for _, tu := range found {
		if tu.ExternalID == u.ExternalID {
			return tu, true, nil
		}
	}
	for _, a := range o.MatchAttributes {
		v := matchValue(u, a)
		if v == "" {
			continue
		}
		found, err := s.Target.LookupUsers(ctx, a, v)
		if errors.Is(err, connectors.ErrLookupUnsupported) {
			continue // the target cannot say: match by the next attribute
		}
		if err != nil {
			return connectors.TargetUser{}, false, fmt.Errorf("look up user by %s: %w", a, err)
		}
		var hits []connectors.TargetUser
		for _, tu := range found {
			if matchValue(tu.User, a) == v {
				hits = append(hits, tu)
			}
		}
		if len(hits) == 1 {
			return hits[0], true, nil
		}
	}
	return connectors.TargetUser{}, false, nil
}

// UsersEqual reports whether a target user already holds what the source
// says, so that an unchanged user is never written.
func UsersEqual(a, b connectors.User) bool {
	if a.ExternalID != b.ExternalID || a.UserName != b.UserName || a.GivenName != b.GivenName ||
		a.FamilyName != b.FamilyName || a.DisplayName != b.DisplayName ||
		!strings.EqualFold(a.Email, b.Email) || a.Active != b.Active {
		return false
	}
	return maps.Equal(nonEmpty(a.Attributes), nonEmpty(b.Attributes))
}

// KeptBy is u as tgt can hold it: without the attributes tgt does not
// keep (connectors.AttributeKeeper), so that UsersEqual does not find a
// difference no write can remove. u is not changed.
func KeptBy(tgt connectors.Target, u connectors.User) connectors.User {
	if o, ok := tgt.(*ownedTarget); ok {
		tgt = o.Target // the rule's view of the target keeps what it keeps
	}
	k, ok := tgt.(connectors.AttributeKeeper)
	if !ok || len(u.Attributes) == 0 {
		return u
	}
	kept := k.KeptAttributes()
	attrs := make(map[string]string, len(kept))
	for _, a := range kept {
		if v, ok := u.Attributes[a]; ok {
			attrs[a] = v
		}
	}
	u.Attributes = attrs
	return u
}

func nonEmpty(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

type permanentError struct{ msg string }

func (e *permanentError) Error() string   { return e.msg }
func (e *permanentError) Permanent() bool { return true }

func permanentf(format string, args ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, args...)}
}

// MissingError says a managed object was deleted in the target behind
// idsync's back and the rule reports it instead of creating it again
// (Policy.OnMissing is MissingReport). It counts as failed, and is not
// retried: a retry would fail the same way, or, where the target forgot
// the object (a connector opened again), create what the rule must not.
type MissingError struct{ msg string }

func (e *MissingError) Error() string   { return e.msg }
func (e *MissingError) Permanent() bool { return true }

func missingf(format string, args ...any) error {
	return &MissingError{msg: fmt.Sprintf(format, args...)}
}
