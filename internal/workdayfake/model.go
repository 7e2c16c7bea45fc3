package workdayfake

import (
	"maps"
	"slices"
	"sort"
	"time"
)

// dateLayout is how the fake writes and reads a date (xsd:date without
// an offset). Dates are kept as these strings: they compare in order.
const dateLayout = "2006-01-02"

// AddDays returns the date n days after date (a "2006-01-02" string).
func AddDays(date string, n int) string {
	t, err := time.Parse(dateLayout, date)
	if err != nil {
		panic("workdayfake: bad date " + date)
	}
	return t.AddDate(0, 0, n).Format(dateLayout)
}

// Worker is one worker record as of an effective date and an entry
// moment: what Get_Workers renders. Scenario helpers take a func that
// changes one (Change).
type Worker struct {
	// WID is the record's Workday ID; a rehire or a conversion makes a
	// new record with a new WID and the same WorkerID.
	WID        string
	WorkerID   string // Employee_ID or Contingent_Worker_ID
	Contingent bool
	UserID     string
	// Legal and preferred names; an empty preferred name is not rendered.
	FirstName, LastName                   string
	PreferredFirstName, PreferredLastName string
	Email, Phone                          string // work
	Title                                 string // Business_Title
	WorkerType                            string // Employee_Type_ID or Contingent_Worker_Type_ID
	// HireDate is the tenant-local date the record starts;
	// TerminationDate the date it ends (inactive from that date on),
	// empty until a termination is effective.
	HireDate, OriginalHireDate, TerminationDate string
	Rehire                                      bool
	// ManagerID is the manager's WorkerID, rendered as the manager's
	// WID (and Employee_ID) in Management_Chain_Data.
	ManagerID string
	// Orgs maps an organization type (SUPERVISORY, COST_CENTER,
	// LOCATION) to the id of the worker's organization of that type.
	Orgs map[string]string
	// Memberships are ids of further orgs, of types a worker can be in
	// many of (a tenant's custom types, such as matrix teams).
	Memberships []string
	// Active is computed: hired on or before the as-of date and not
	// terminated by it.
	Active bool
}

// Org is an organization (supervisory org, cost center, location).
type Org struct {
	ID   string // Organization_Reference_ID
	Type string // SUPERVISORY, COST_CENTER, LOCATION
	Name string
	Code string
}

// event is one business process on a record: effective on a tenant-local
// date, entered at a moment. A record's state as of (date D, moment M) is
// its events entered by M and effective by D, applied in effective order
// (then entry order), leaving out those rescinded by M. The hire event is
// the baseline and applies whatever D is: a pre-hire exists, inactive.
type event struct {
	kind       string // hire, terminate, change, contact, account, rescind
	eff        string
	entered    time.Time
	apply      func(*Worker)
	rescinded  time.Time // zero unless rescinded
	rescinding *event    // for kind rescind
}

func (e *event) rescindedBy(m time.Time) bool {
	return !e.rescinded.IsZero() && !e.rescinded.After(m)
}

type record struct {
	seq           int // creation order
	wid, workerID string
	contingent    bool
	events        []*event // events[0] is the hire; the rest sorted by (eff, entered)
}

func (r *record) hire() *event { return r.events[0] }

// exists says whether the record exists as of moment m: hired (entered)
// by then and the hire not rescinded.
func (r *record) exists(m time.Time) bool {
	h := r.hire()
	return !h.entered.After(m) && !h.rescindedBy(m)
}

func (r *record) add(e *event) {
	r.events = append(r.events, e)
	rest := r.events[1:]
	sort.SliceStable(rest, func(i, j int) bool {
		if rest[i].eff != rest[j].eff {
			return rest[i].eff < rest[j].eff
		}
		return rest[i].entered.Before(rest[j].entered)
	})
}

// state is the record as of effective date d and entry moment m.
func (r *record) state(d string, m time.Time) Worker {
	w := Worker{WID: r.wid, WorkerID: r.workerID, Contingent: r.contingent}
	for i, e := range r.events {
		if e.entered.After(m) || e.rescindedBy(m) || (i > 0 && e.eff > d) {
			continue
		}
		e.apply(&w)
	}
	w.Orgs = maps.Clone(w.Orgs)
	w.Memberships = slices.Clone(w.Memberships)
	w.Active = w.HireDate != "" && w.HireDate <= d && (w.TerminationDate == "" || w.TerminationDate > d)
	return w
}

// touched says whether an event of the record was entered in [from,
// through] and is visible to the transaction log at now (lag).
func (r *record) touched(from, through, now time.Time, lag time.Duration) bool {
	for _, e := range r.events {
		if !e.entered.Before(from) && !e.entered.After(through) && !e.entered.Add(lag).After(now) {
			return true
		}
	}
	return false
}

// effectiveIn says whether an event entered by m and not rescinded by
// then is effective in [from, through].
func (r *record) effectiveIn(from, through string, m time.Time) bool {
	for _, e := range r.events {
		if e.entered.After(m) || e.rescindedBy(m) {
			continue
		}
		if e.eff >= from && e.eff <= through {
			return true
		}
	}
	return false
}
