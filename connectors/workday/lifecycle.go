package workday

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Ranks of a worker record today: which of a Worker_ID's records stands
// for it, and whether it is in the source at all.
const (
	rankOut      = iota // hired beyond the pre-hire window, or inactive and inactive workers are left out
	rankInactive        // terminated (or otherwise not active) today
	rankPreHire         // hired within the pre-hire window, after today
	rankActive          // active today
)

func addDays(date string, n int) string {
	t, err := time.Parse(dateLayout, date)
	if err != nil {
		return date
	}
	return t.AddDate(0, 0, n).Format(dateLayout)
}

// rank places a record read as of today.
func (c *conn) rank(r record, today string) int {
	switch {
	case r.HireDate != "" && r.HireDate > addDays(today, c.cfg.PreHireDays):
		return rankOut
	case r.HireDate > today:
		return rankPreHire
	case r.Active:
		return rankActive
	case !*c.cfg.IncludeInactive:
		return rankOut
	}
	return rankInactive
}

// chosen is the record that stands for a Worker_ID, and its rank.
type chosen struct {
	rec  record
	rank int
}

// better says whether a beats b as a Worker_ID's record: a higher rank,
// then a later hire date; b wins ties (it came first).
func better(a, b chosen) bool {
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	return a.rec.HireDate > b.rec.HireDate
}

// choose picks each Worker_ID's record among recs (read as of today),
// dropping those out of the source.
func (c *conn) choose(recs []record, today string) map[string]chosen {
	out := map[string]chosen{}
	for _, r := range recs {
		ch := chosen{r, c.rank(r, today)}
		if ch.rank == rankOut {
			continue
		}
		if cur, ok := out[r.WorkerID]; !ok || better(ch, cur) {
			out[r.WorkerID] = ch
		}
	}
	return out
}

// complete readies chosen records to become users: a pre-hire is read
// again as of its hire date (its org, job and manager are effective
// then), and managers are resolved to Worker_IDs.
func (c *conn) complete(ctx context.Context, chs []chosen) error {
	byDate := map[string][]string{}
	for _, ch := range chs {
		if ch.rank == rankPreHire {
			byDate[ch.rec.HireDate] = append(byDate[ch.rec.HireDate], ch.rec.WID)
		}
	}
	reread := map[string]record{}
	for _, d := range slices.Sorted(maps.Keys(byDate)) {
		recs, err := c.readWIDs(ctx, byDate[d], d, false)
		if err != nil {
			return err
		}
		for _, r := range recs {
			reread[r.WID] = r
		}
	}
	for i := range chs {
		if r, ok := reread[chs[i].rec.WID]; ok {
			chs[i].rec = r
		}
	}
	return c.resolveManagers(ctx, chs)
}

// resolveManagers fills ManagerID from ManagerWID where the reference
// had no Employee_ID: from what was read, else by reading the WIDs.
func (c *conn) resolveManagers(ctx context.Context, chs []chosen) error {
	var unknown []string
	c.mu.Lock()
	for _, ch := range chs {
		if r := ch.rec; r.ManagerID == "" && r.ManagerWID != "" {
			if _, ok := c.wids[r.ManagerWID]; !ok && !slices.Contains(unknown, r.ManagerWID) {
				unknown = append(unknown, r.ManagerWID)
			}
		}
	}
	c.mu.Unlock()
	if len(unknown) > 0 {
		// learn (in getWorkers) remembers them.
		if _, err := c.readWIDs(ctx, unknown, c.today(c.tenantNow()), true); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range chs {
		if r := &chs[i].rec; r.ManagerID == "" && r.ManagerWID != "" {
			r.ManagerID = c.wids[r.ManagerWID]
		}
	}
	return nil
}

// user is a chosen record as a canonical user. userName is the User_ID,
// else the work email, else the Worker_ID: a worker without either still
// has a name.
func (c *conn) user(ch chosen) connectors.User {
	r := ch.rec
	u := connectors.User{
		ExternalID:  r.WorkerID,
		UserName:    cmpOr(r.UserID, r.Email, r.WorkerID),
		GivenName:   r.First,
		FamilyName:  r.Last,
		DisplayName: cmpOr(r.Preferred, r.Formatted, strings.TrimSpace(r.First+" "+r.Last)),
		Email:       r.Email,
		Active:      ch.rank == rankActive || ch.rank == rankPreHire,
	}
	attrs := map[string]string{
		"employeeNumber":     r.WorkerID,
		"employeeId":         r.EmployeeID,
		"contingentWorkerId": r.ContingentID,
		"title":              r.Title,
		"phoneNumber":        r.Phone,
		"manager":            r.ManagerID,
		"employeeType":       r.WorkerType,
		"preferredName":      r.Preferred,
		"hireDate":           r.HireDate,
		"department":         r.Orgs[OrgSupervisory].Name,
		"costCenter":         r.Orgs[OrgCostCenter].Name,
		"location":           r.Orgs[OrgLocation].Name,
	}
	maps.DeleteFunc(attrs, func(_, v string) bool { return v == "" })
	if len(attrs) > 0 {
		u.Attributes = attrs
	}
	return u
}

// groupIDs are the groups a chosen record is a member of: the orgs of
// the configured types, for a worker active today.
func (c *conn) groupIDs(ch chosen) []string {
	if ch.rank != rankActive {
		return nil
	}
	var ids []string
	for gid := range ch.rec.Memberships {
		typ, id, _ := strings.Cut(gid, "/")
		if id != "" && slices.Contains(c.cfg.Groups, typ) {
			ids = append(ids, gid)
		}
	}
	slices.Sort(ids)
	return ids
}

func groupID(typ, orgID string) string { return typ + "/" + orgID }
