package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// memberIndex is what resolving group members needs of the target's users.
type memberIndex struct {
	// ids maps the ExternalID of each user the rule manages (or may claim,
	// written before ownership) to its target id.
	ids map[string]string
	// own holds the target ids of the rule's own users: the only members
	// a rule ever removes from a group (with dangling ones, see SyncGroups).
	own map[string]bool
	// all holds the target id of every user of the target.
	all map[string]bool
}

// memberIndex lists the target's users once for the groups phase.
func (s *Syncer) memberIndex(ctx context.Context) (memberIndex, error) {
	mi := memberIndex{ids: map[string]string{}, own: map[string]bool{}, all: map[string]bool{}}
	n := 0
	err := s.Target.ListUsers(ctx, func(tu connectors.TargetUser) error {
		n++
		s.progress("target users", n)
		mi.all[tu.ID] = true
		switch s.userRelation(tu) {
		case own:
			mi.ids[tu.ExternalID] = tu.ID
			mi.own[tu.ID] = true
		case legacy:
			if _, ok := mi.ids[tu.ExternalID]; !ok {
				mi.ids[tu.ExternalID] = tu.ID
			}
		}
		return nil
	})
	if err != nil {
		return mi, fmt.Errorf("list target users (%d read): %w", n, err)
	}
	return mi, nil
}

// SyncGroups is the groups phase of a full resync: every in-scope source
// group exists in the target with the same name and the same managed
// members; managed groups no longer in the source are deleted, within the
// guard. Members that idsync does not manage are left alone.
func (s *Syncer) SyncGroups(ctx context.Context) (Result, error) {
	s = s.owned()
	o := s.opts()
	if s.groups() == nil {
		return Result{}, nil
	}
	mi, err := s.memberIndex(ctx)
	if err != nil {
		return Result{}, err
	}
	userIDs, managedIDs := mi.ids, mi.own
	managed := map[string]connectors.TargetGroup{}
	legacyGroups := map[string]connectors.TargetGroup{}
	unmanaged := map[string][]connectors.TargetGroup{}
	foreignGroups := 0
	groupIDs := map[string]bool{}
	n := 0
	err = s.groups().ListGroups(ctx, func(tg connectors.TargetGroup) error {
		n++
		groupIDs[tg.ID] = true
		s.progress("target groups", n)
		switch s.groupRelation(tg) {
		case own:
			managed[tg.ExternalID] = tg
		case legacy:
			legacyGroups[tg.ExternalID] = tg
		case foreign:
			foreignGroups++
		default:
			k := strings.ToLower(tg.DisplayName)
			unmanaged[k] = append(unmanaged[k], tg)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("groups: list target groups (%d read): %w", n, err)
	}
	// A member of the rule's own group that is neither a user nor a group
	// of the target is dangling (a user deleted behind idsync's back, and
	// created again with a new id): removable like the rule's own users.
	for _, tg := range managed {
		for _, id := range tg.MemberIDs {
			if !mi.all[id] && !groupIDs[id] {
				managedIDs[id] = true
			}
		}
	}

	t := s.newTally(KindGroup)
	seen := map[string]bool{}
	n = 0
	err = s.groupSource().ListGroups(ctx, func(g connectors.Group) error {
		if g.ExternalID == "" || seen[g.ExternalID] {
			return nil
		}
		seen[g.ExternalID] = true
		n++
		s.progress("groups", n)
		s.tally("groups", n, t)
		want := memberIDs(g.Members, userIDs)
		cur, ok := managed[g.ExternalID]
		if lg, claim := legacyGroups[g.ExternalID]; !ok && claim {
			delete(legacyGroups, g.ExternalID)
			s.adoptGroup(ctx, t, lg, g, want, managedIDs, o)
			return t.err()
		}
		if !ok {
			k := strings.ToLower(g.DisplayName)
			if c := unmanaged[k]; len(c) == 1 {
				cur, ok = c[0], true
				delete(unmanaged, k)
				s.adoptGroup(ctx, t, cur, g, want, managedIDs, o)
				return t.err()
			}
			s.createGroup(ctx, t, g, want, managedIDs, o)
			return t.err()
		}
		s.updateGroup(ctx, t, cur, g, want, managedIDs, o)
		return t.err()
	})
	if err != nil {
		return Result{}, fmt.Errorf("groups: %w", err)
	}

	var gone []string
	for _, ext := range slices.Sorted(maps.Keys(managed)) {
		if !seen[ext] {
			gone = append(gone, ext)
		}
	}
	names := make([]string, 0, min(len(gone), maxHeldSample))
	for _, ext := range gone[:min(len(gone), maxHeldSample)] {
		names = append(names, managed[ext].DisplayName)
	}
	apply, held, err := decide("groups", gone, names, len(managed), o)
	if err != nil {
		return Result{}, err
	}
	if !apply {
		gone = nil
	}
	for _, ext := range gone {
		if !o.DryRun {
			if err := s.groups().DeleteGroup(ctx, managed[ext].ID); err != nil && !errors.Is(err, connectors.ErrNotFound) {
				t.fail("delete group "+ext, err)
				if e := t.err(); e != nil {
					return Result{}, fmt.Errorf("groups: %w", e)
				}
				continue
			}
		}
		t.did(ActionDeprovisioned, managed[ext].DisplayName, ext)
	}
	t.counts.Foreign += foreignGroups + len(legacyGroups)
	c := t.counts
	res := Result{Groups: c, ManagedGroups: c.Created + c.Adopted + c.Updated + c.Unchanged, Failures: t.failures}
	res.addObjects(t.objects, t.objectsDropped)
	if held != nil {
		res.Held = []Held{*held}
	}
	return res, nil
}

// memberIDs translates source member ids to target ids, sorted; members
// the target does not have (out of scope, not yet created) are skipped.
func memberIDs(members []string, userIDs map[string]string) []string {
	out := make([]string, 0, len(members))
	for _, m := range members {
		if id, ok := userIDs[m]; ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *Syncer) createGroup(ctx context.Context, t *tally, g connectors.Group, want []string, managedIDs map[string]bool, o Options) {
	if o.DryRun {
		t.did(ActionCreated, g.DisplayName, g.ExternalID)
		return
	}
	id, err := s.groups().CreateGroup(ctx, connectors.Group{ExternalID: g.ExternalID, DisplayName: g.DisplayName})
	if errors.Is(err, connectors.ErrAlreadyExists) {
		cur, found, lerr := s.lookupGroup(ctx, g)
		switch {
		case lerr != nil:
			t.fail("create group "+g.ExternalID, lerr)
		case !found:
			t.fail("create group "+g.ExternalID, permanentf("target says it exists but no group matches it: %v", err))
		default:
			switch rel := s.groupRelation(cur); {
			case rel == own && cur.ExternalID == g.ExternalID:
				s.updateGroup(ctx, t, cur, g, want, managedIDs, o)
			case rel == unmanaged || (rel == legacy && cur.ExternalID == g.ExternalID):
				s.adoptGroup(ctx, t, cur, g, want, managedIDs, o)
			default:
				t.fail("create group "+g.DisplayName+" (source id "+g.ExternalID+")",
					conflictf("it collides with group %s of %s (source id %s)", cur.ID, ownerName(cur.Owner), cur.ExternalID))
			}
		}
		return
	}
	if err != nil {
		t.fail("create group "+g.ExternalID, err)
		return
	}
	if err := s.groups().AddMembers(ctx, id, want); err != nil {
		t.fail("add members to group "+g.ExternalID, err)
		return
	}
	t.did(ActionCreated, g.DisplayName, g.ExternalID)
}

func (s *Syncer) adoptGroup(ctx context.Context, t *tally, cur connectors.TargetGroup, g connectors.Group, want []string, managedIDs map[string]bool, o Options) {
	if !o.DryRun {
		if err := s.groups().UpdateGroup(ctx, cur.ID, g); err != nil {
			t.fail("adopt group "+g.ExternalID, err)
			return
		}
		if err := s.syncMembers(ctx, cur, want, managedIDs); err != nil {
			t.fail("adopt group "+g.ExternalID, err)
			return
		}
	}
	t.did(ActionAdopted, g.DisplayName, g.ExternalID)
}

func (s *Syncer) updateGroup(ctx context.Context, t *tally, cur connectors.TargetGroup, g connectors.Group, want []string, managedIDs map[string]bool, o Options) {
	add, remove := memberDiff(cur.MemberIDs, want, managedIDs)
	renamed := cur.DisplayName != g.DisplayName || cur.Owner != o.Owner
	if !renamed && len(add) == 0 && len(remove) == 0 {
		t.add(func(c *Counts) { c.Unchanged++ })
		return
	}
	if !o.DryRun {
		if renamed {
			if err := s.groups().UpdateGroup(ctx, cur.ID, g); err != nil {
				t.fail("update group "+g.ExternalID, err)
				return
			}
		}
		if err := s.applyMembers(ctx, cur.ID, add, remove); err != nil {
			t.fail("update members of group "+g.ExternalID, err)
			return
		}
	}
	t.did(ActionUpdated, g.DisplayName, g.ExternalID)
}

func (s *Syncer) syncMembers(ctx context.Context, cur connectors.TargetGroup, want []string, managedIDs map[string]bool) error {
	add, remove := memberDiff(cur.MemberIDs, want, managedIDs)
	return s.applyMembers(ctx, cur.ID, add, remove)
}

// applyMembers removes, then adds: a service that checks every member of
// the group it is writing refuses an add while a dangling member is left.
func (s *Syncer) applyMembers(ctx context.Context, groupID string, add, remove []string) error {
	if len(remove) > 0 {
		if err := s.groups().RemoveMembers(ctx, groupID, remove); err != nil {
			return fmt.Errorf("remove %d members: %w", len(remove), err)
		}
	}
	if len(add) > 0 {
		if err := s.groups().AddMembers(ctx, groupID, add); err != nil {
			return fmt.Errorf("add %d members: %w", len(add), err)
		}
	}
	return nil
}

// memberDiff returns the members to add and to remove. Only members that
// idsync manages are ever removed: someone added by hand in the target to a
// managed group stays.
func memberDiff(current, want []string, managedIDs map[string]bool) (add, remove []string) {
	cur := make(map[string]bool, len(current))
	for _, id := range current {
		cur[id] = true
	}
	wantSet := make(map[string]bool, len(want))
	for _, id := range want {
		wantSet[id] = true
		if !cur[id] {
			add = append(add, id)
		}
	}
	for _, id := range current {
		if !wantSet[id] && managedIDs[id] {
			remove = append(remove, id)
		}
	}
	slices.Sort(add)
	slices.Sort(remove)
	return add, remove
}

// lookupGroup finds the target group for g: by ExternalID, then by name.
func (s *Syncer) lookupGroup(ctx context.Context, g connectors.Group) (connectors.TargetGroup, bool, error) {
	found, err := s.groups().LookupGroups(ctx, connectors.MatchExternalID, g.ExternalID)
	if err != nil {
		return connectors.TargetGroup{}, false, fmt.Errorf("look up group by externalId: %w", err)
	}
	for _, tg := range found {
		if tg.ExternalID == g.ExternalID {
			return tg, true, nil
		}
	}
	found, err = s.groups().LookupGroups(ctx, "displayName", g.DisplayName)
	if err != nil {
		return connectors.TargetGroup{}, false, fmt.Errorf("look up group by displayName: %w", err)
	}
	var hits []connectors.TargetGroup
	for _, tg := range found {
		if strings.EqualFold(tg.DisplayName, g.DisplayName) {
			hits = append(hits, tg)
		}
	}
	if len(hits) == 1 {
		return hits[0], true, nil
	}
	return connectors.TargetGroup{}, false, nil
}

func ownerName(owner string) string {
	if owner == "" {
		return "an idsync rule before ownership"
	}
	return "rule " + owner
}
