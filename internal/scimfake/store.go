package scimfake

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// store holds users and groups in memory, with the indexes that answer
// every "eq" filter on id, userName, externalId, emails.value,
// displayName and members.value without a scan. Resources are kept in
// creation order (a slice sorted by sequence number), which is the stable
// order that paging by startIndex walks.
//
// Stored User values are never changed in place: an update stores a new
// value, so a copy taken under the read lock stays valid after it.
type store struct {
	mu sync.RWMutex

	users      map[string]*userRec
	userOrder  []*userRec
	byUserName map[string]string // lower-cased userName → id (unique)
	byUserExt  map[string]string // externalId → id (unique)
	byEmail    map[string]idSet  // lower-cased emails.value → ids
	byUserDisp map[string]idSet  // lower-cased displayName → ids

	groups      map[string]*groupRec
	groupOrder  []*groupRec
	byGroupExt  map[string]string // externalId → id (unique)
	byGroupName map[string]idSet  // lower-cased displayName → ids
	memberOf    map[string]idSet  // member id → the groups that hold it

	seq   uint64
	scans atomic.Int64 // filtered lists answered by a scan, for tests
	newID func(group bool) string
}

type idSet map[string]struct{}

type userRec struct {
	u       User // Groups empty, Meta.Location and Meta.Version unset
	seq     uint64
	version uint64
}

type groupRec struct {
	g       Group // Members nil: they live in members
	members map[string]memberRec
	nextSeq uint64 // orders members by when they were added
	seq     uint64
	version uint64
}

type memberRec struct {
	m   Member // Value, Display and Type as stored
	seq uint64
}

func newStore(newID func(group bool) string) *store {
	return &store{
		users:       map[string]*userRec{},
		byUserName:  map[string]string{},
		byUserExt:   map[string]string{},
		byEmail:     map[string]idSet{},
		byUserDisp:  map[string]idSet{},
		groups:      map[string]*groupRec{},
		byGroupExt:  map[string]string{},
		byGroupName: map[string]idSet{},
		memberOf:    map[string]idSet{},
		newID:       newID,
	}
}

func etag(version uint64) string { return `W/"` + strconv.FormatUint(version, 10) + `"` }

func addIdx(m map[string]idSet, k, id string) {
	if k == "" {
		return
	}
	s := m[k]
	if s == nil {
		s = idSet{}
		m[k] = s
	}
	s[id] = struct{}{}
}

func delIdx(m map[string]idSet, k, id string) {
	if s := m[k]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

func (s *store) indexUser(r *userRec) {
	u := &r.u
	s.byUserName[strings.ToLower(u.UserName)] = u.ID
	if u.ExternalID != "" {
		s.byUserExt[u.ExternalID] = u.ID
	}
	for _, e := range u.Emails {
		addIdx(s.byEmail, strings.ToLower(e.Value), u.ID)
	}
	addIdx(s.byUserDisp, strings.ToLower(u.DisplayName), u.ID)
}

func (s *store) unindexUser(r *userRec) {
	u := &r.u
	delete(s.byUserName, strings.ToLower(u.UserName))
	if u.ExternalID != "" {
		delete(s.byUserExt, u.ExternalID)
	}
	for _, e := range u.Emails {
		delIdx(s.byEmail, strings.ToLower(e.Value), u.ID)
	}
	delIdx(s.byUserDisp, strings.ToLower(u.DisplayName), u.ID)
}

// userConflict reports a 409 when another user (not self) holds u's
// userName (compared case-insensitively) or externalId.
func (s *store) userConflict(u *User, self string) *apiError {
	if id, ok := s.byUserName[strings.ToLower(u.UserName)]; ok && id != self {
		return errUniqueness("userName " + strconv.Quote(u.UserName) + " is already taken")
	}
	if u.ExternalID != "" {
		if id, ok := s.byUserExt[u.ExternalID]; ok && id != self {
			return errUniqueness("externalId " + strconv.Quote(u.ExternalID) + " is already taken")
		}
	}
	return nil
}

// addUser stores a validated, conflict-free user.
func (s *store) addUser(u User, now time.Time) *userRec {
	if u.ID == "" {
		u.ID = s.newID(false)
	}
	u.Groups = nil
	u.Meta = Meta{ResourceType: "User", Created: now, LastModified: now}
	s.seq++
	r := &userRec{u: u, seq: s.seq, version: 1}
	s.users[u.ID] = r
	s.userOrder = append(s.userOrder, r)
	s.indexUser(r)
	return r
}

// putUser replaces a stored user's attributes with u's (validated and
// conflict-free), keeping its id and creation time.
func (s *store) putUser(r *userRec, u User, now time.Time) {
	s.unindexUser(r)
	u.ID = r.u.ID
	u.Groups = nil
	u.Meta = Meta{ResourceType: "User", Created: r.u.Meta.Created, LastModified: now}
	r.u = u
	r.version++
	s.indexUser(r)
}

// removeUser deletes a user and its group memberships.
func (s *store) removeUser(r *userRec, now time.Time) {
	s.unindexUser(r)
	delete(s.users, r.u.ID)
	s.userOrder = deleteBySeq(s.userOrder, r.seq, func(r *userRec) uint64 { return r.seq })
	s.dropMember(r.u.ID, now)
}

// dropMember removes id from every group that holds it.
func (s *store) dropMember(id string, now time.Time) {
	for gid := range s.memberOf[id] {
		if g := s.groups[gid]; g != nil {
			delete(g.members, id)
			g.touch(now)
		}
	}
	delete(s.memberOf, id)
}

func deleteBySeq[T any](order []T, seq uint64, key func(T) uint64) []T {
	i, ok := slices.BinarySearchFunc(order, seq, func(t T, seq uint64) int { return cmp.Compare(key(t), seq) })
	if !ok {
		return order
	}
	return slices.Delete(order, i, i+1)
}

func (g *groupRec) touch(now time.Time) {
	g.version++
	g.g.Meta.LastModified = now
}

func (s *store) indexGroup(g *groupRec) {
	if g.g.ExternalID != "" {
		s.byGroupExt[g.g.ExternalID] = g.g.ID
	}
	addIdx(s.byGroupName, strings.ToLower(g.g.DisplayName), g.g.ID)
}

func (s *store) unindexGroup(g *groupRec) {
	if g.g.ExternalID != "" {
		delete(s.byGroupExt, g.g.ExternalID)
	}
	delIdx(s.byGroupName, strings.ToLower(g.g.DisplayName), g.g.ID)
}

// groupConflict reports a 409 when another group holds g's externalId.
func (s *store) groupConflict(g *Group, self string) *apiError {
	if g.ExternalID != "" {
		if id, ok := s.byGroupExt[g.ExternalID]; ok && id != self {
			return errUniqueness("externalId " + strconv.Quote(g.ExternalID) + " is already taken")
		}
	}
	return nil
}

// memberType is "User" or "Group" for an existing id, "" otherwise.
func (s *store) memberType(id string) string {
	if _, ok := s.users[id]; ok {
		return "User"
	}
	if _, ok := s.groups[id]; ok {
		return "Group"
	}
	return ""
}

// checkMembers returns a 400 for a member value that names no resource.
func (s *store) checkMembers(ms []Member) *apiError {
	for _, m := range ms {
		if s.memberType(m.Value) == "" {
			return errInvalidValue("member " + strconv.Quote(m.Value) + " does not exist")
		}
	}
	return nil
}

// addGroup stores a validated group; its members must exist.
func (s *store) addGroup(g Group, now time.Time) *groupRec {
	if g.ID == "" {
		g.ID = s.newID(true)
	}
	members := g.Members
	g.Members = nil
	g.Meta = Meta{ResourceType: "Group", Created: now, LastModified: now}
	s.seq++
	r := &groupRec{g: g, members: map[string]memberRec{}, seq: s.seq, version: 1}
	s.groups[g.ID] = r
	s.groupOrder = append(s.groupOrder, r)
	s.indexGroup(r)
	s.addMembers(r, members)
	return r
}

// putGroup replaces a group's attributes and, when members is not nil,
// its members.
func (s *store) putGroup(r *groupRec, g Group, members []Member, now time.Time) {
	s.unindexGroup(r)
	r.g.DisplayName, r.g.ExternalID = g.DisplayName, g.ExternalID
	s.indexGroup(r)
	if members != nil {
		s.clearMembers(r)
		s.addMembers(r, members)
	}
	r.touch(now)
}

func (s *store) addMembers(r *groupRec, ms []Member) {
	for _, m := range ms {
		if _, ok := r.members[m.Value]; ok {
			continue
		}
		r.nextSeq++
		r.members[m.Value] = memberRec{m: Member{Value: m.Value, Display: m.Display}, seq: r.nextSeq}
		addIdx(s.memberOf, m.Value, r.g.ID)
	}
}

func (s *store) removeMember(r *groupRec, id string) {
	if _, ok := r.members[id]; ok {
		delete(r.members, id)
		delIdx(s.memberOf, id, r.g.ID)
	}
}

func (s *store) clearMembers(r *groupRec) {
	for id := range r.members {
		delIdx(s.memberOf, id, r.g.ID)
	}
	r.members = map[string]memberRec{}
}

// removeGroup deletes a group, its memberships, and its membership in
// other groups.
func (s *store) removeGroup(r *groupRec, now time.Time) {
	s.unindexGroup(r)
	s.clearMembers(r)
	delete(s.groups, r.g.ID)
	s.groupOrder = deleteBySeq(s.groupOrder, r.seq, func(r *groupRec) uint64 { return r.seq })
	s.dropMember(r.g.ID, now)
}

// userView is the user as the API returns it, with its groups, location
// and version.
func (s *store) userView(r *userRec, base string) User {
	u := r.u
	u.Meta.Location = base + "/Users/" + u.ID
	u.Meta.Version = etag(r.version)
	if gids := s.memberOf[u.ID]; len(gids) > 0 {
		groups := make([]*groupRec, 0, len(gids))
		for gid := range gids {
			groups = append(groups, s.groups[gid])
		}
		slices.SortFunc(groups, func(a, b *groupRec) int { return cmp.Compare(a.seq, b.seq) })
		u.Groups = make([]Member, len(groups))
		for i, g := range groups {
			u.Groups[i] = Member{Value: g.g.ID, Ref: base + "/Groups/" + g.g.ID, Display: g.g.DisplayName, Type: "direct"}
		}
	}
	return u
}

// groupView is the group as the API returns it; members are left out
// unless withMembers (excludedAttributes=members).
func (s *store) groupView(r *groupRec, base string, withMembers bool) Group {
	g := r.g
	g.Meta.Location = base + "/Groups/" + g.ID
	g.Meta.Version = etag(r.version)
	if !withMembers || len(r.members) == 0 {
		return g
	}
	ms := make([]memberRec, 0, len(r.members))
	for _, m := range r.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b memberRec) int { return cmp.Compare(a.seq, b.seq) })
	g.Members = make([]Member, len(ms))
	for i, m := range ms {
		typ := s.memberType(m.m.Value)
		g.Members[i] = Member{Value: m.m.Value, Ref: base + "/" + typ + "s/" + m.m.Value, Display: m.m.Display, Type: typ}
	}
	return g
}
