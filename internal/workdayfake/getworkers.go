package workdayfake

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paging limits of Get_Workers. [U] The default 100 and the maximum 999
// come from client code and notes, not from a published WSDL.
const (
	defaultCount = 100
	maxCount     = 999
)

type getWorkersRequest struct {
	Version    string `xml:"version,attr"`
	References *struct {
		// [U] An attribute in the clients the notes cite; an element is
		// taken too.
		Skip    string      `xml:"Skip_Non_Existing_Instances,attr"`
		SkipEl  string      `xml:"Skip_Non_Existing_Instances"`
		Workers []reference `xml:"Worker_Reference"`
	} `xml:"Request_References"`
	Criteria *struct {
		Log *struct {
			Range *struct {
				UpdatedFrom      string `xml:"Updated_From"`
				UpdatedThrough   string `xml:"Updated_Through"`
				EffectiveFrom    string `xml:"Effective_From"`
				EffectiveThrough string `xml:"Effective_Through"`
			} `xml:"Transaction_Date_Range_Data"`
		} `xml:"Transaction_Log_Criteria_Data"`
		Orgs            []reference `xml:"Organization_Reference"`
		ExcludeInactive string      `xml:"Exclude_Inactive_Workers"`
	} `xml:"Request_Criteria"`
	Filter *struct {
		AsOfEffectiveDate string `xml:"As_Of_Effective_Date"`
		AsOfEntryDateTime string `xml:"As_Of_Entry_DateTime"`
		Page              string `xml:"Page"`
		Count             string `xml:"Count"`
	} `xml:"Response_Filter"`
	Group *responseGroup `xml:"Response_Group"`
}

type responseGroup struct {
	Reference     string `xml:"Include_Reference"`
	Personal      string `xml:"Include_Personal_Information"`
	Employment    string `xml:"Include_Employment_Information"`
	Organizations string `xml:"Include_Organizations"`
	Management    string `xml:"Include_Management_Chain_Data"`
}

// query is a Get_Workers request, checked.
type query struct {
	asOf                string
	entry               time.Time
	page                int
	count               int
	refs                []idEl
	skip                bool
	updFrom, updThrough time.Time
	effFrom, effThrough string
	orgs                []string
	active              bool
	group               responseGroup
}

const xpathReq = "/bsvc:Get_Workers_Request[1]"

func truthy(s string) bool { s = strings.TrimSpace(s); return s == "1" || s == "true" }

// parseQuery checks a request as Workday's validations do (productionapi).
func (s *Server) parseQuery(r *getWorkersRequest, now time.Time, today string) (query, *fault) {
	q := query{asOf: today, entry: now, page: 1, count: defaultCount,
		group: responseGroup{Reference: "1", Personal: "1", Employment: "1", Organizations: "1", Management: "1"}}
	if r.Group != nil {
		q.group = *r.Group
	}
	if f := r.Filter; f != nil {
		xp := xpathReq + "/bsvc:Response_Filter[1]"
		if v := strings.TrimSpace(f.AsOfEffectiveDate); v != "" {
			d, ok := parseDate(v)
			if !ok {
				return q, validation(fmt.Sprintf("Invalid date: %q", v), xp+"/bsvc:As_Of_Effective_Date[1]")
			}
			q.asOf = d
		}
		if v := strings.TrimSpace(f.AsOfEntryDateTime); v != "" {
			t, ok := parseMoment(v)
			if !ok {
				return q, validation(fmt.Sprintf("Invalid dateTime: %q", v), xp+"/bsvc:As_Of_Entry_DateTime[1]")
			}
			q.entry = t
		}
		if v := strings.TrimSpace(f.Page); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return q, validation("Invalid page number", xp+"/bsvc:Page[1]")
			}
			if n == 0 {
				return q, validation("Page Number cannot be zero", xp+"/bsvc:Page[1]")
			}
			q.page = n
		}
		if v := strings.TrimSpace(f.Count); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxCount {
				return q, validation(fmt.Sprintf("Count must be between 1 and %d", maxCount), xp+"/bsvc:Count[1]")
			}
			q.count = n
		}
	}
	if rr := r.References; rr != nil {
		q.skip = truthy(rr.Skip) || truthy(rr.SkipEl)
		for _, ref := range rr.Workers {
			q.refs = append(q.refs, ref.IDs...)
		}
	}
	if c := r.Criteria; c != nil {
		q.active = truthy(c.ExcludeInactive)
		for _, o := range c.Orgs {
			for _, id := range o.IDs {
				q.orgs = append(q.orgs, strings.TrimSpace(id.Value))
			}
		}
		if c.Log != nil && c.Log.Range != nil {
			if f := s.parseRange(&q, c.Log.Range.UpdatedFrom, c.Log.Range.UpdatedThrough,
				c.Log.Range.EffectiveFrom, c.Log.Range.EffectiveThrough, now); f != nil {
				return q, f
			}
		}
	}
	return q, nil
}

func (s *Server) parseRange(q *query, uf, ut, ef, et string, now time.Time) *fault {
	xp := xpathReq + "/bsvc:Request_Criteria[1]/bsvc:Transaction_Log_Criteria_Data[1]/bsvc:Transaction_Date_Range_Data[1]"
	uf, ut, ef, et = strings.TrimSpace(uf), strings.TrimSpace(ut), strings.TrimSpace(ef), strings.TrimSpace(et)
	if (uf == "") != (ut == "") {
		return validation("If either Updated From or Updated Through is specified, then both are required.", xp)
	}
	if (ef == "") != (et == "") {
		return validation("If either Effective From or Effective Through is specified, then both are required.", xp)
	}
	if uf != "" {
		from, ok1 := parseMoment(uf)
		through, ok2 := parseMoment(ut)
		if !ok1 || !ok2 {
			return validation("Invalid dateTime in Updated From or Updated Through", xp)
		}
		if from.After(through) {
			return validation("Updated From must be less than or equal to Updated Through!", xp+"/bsvc:Updated_From[1]")
		}
		if through.After(now) {
			return validation("Updated Through must be less than or equal to Current Moment!", xp+"/bsvc:Updated_Through[1]")
		}
		q.updFrom, q.updThrough = from, through
	}
	if ef != "" {
		from, ok1 := parseDate(ef)
		through, ok2 := parseDate(et)
		if !ok1 || !ok2 {
			return validation("Invalid date in Effective From or Effective Through", xp)
		}
		if from > through {
			return validation("Effective From must be less than or equal to Effective Through!", xp+"/bsvc:Effective_From[1]")
		}
		q.effFrom, q.effThrough = from, through
	}
	return nil
}

// parseDate reads an xsd:date, with or without an offset ("2026-12-05",
// "2026-12-05-08:00", "2026-12-05Z"); the offset is dropped, the date is
// the tenant's.
func parseDate(v string) (string, bool) {
	if len(v) < len(dateLayout) {
		return "", false
	}
	d := v[:len(dateLayout)]
	if _, err := time.Parse(dateLayout, d); err != nil {
		return "", false
	}
	return d, true
}

func parseMoment(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// getWorkers answers Get_Workers_Request.
func (s *Server) getWorkers(r *getWorkersRequest) (string, *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	q, f := s.parseQuery(r, now, s.today())
	if f != nil {
		return "", f
	}
	recs, f := s.match(q, now)
	if f != nil {
		return "", f
	}
	total := len(recs)
	pages := (total + q.count - 1) / q.count
	lo := min((q.page-1)*q.count, total)
	hi := min(lo+q.count, total)
	var b strings.Builder
	b.WriteString(`<wd:Get_Workers_Response xmlns:wd="` + nsWD + `" wd:version="` + esc(cmp(r.Version, "v44.0")) + `">`)
	fmt.Fprintf(&b, "<wd:Response_Filter><wd:As_Of_Effective_Date>%s</wd:As_Of_Effective_Date><wd:As_Of_Entry_DateTime>%s</wd:As_Of_Entry_DateTime><wd:Page>%d</wd:Page><wd:Count>%d</wd:Count></wd:Response_Filter>",
		q.asOf, q.entry.UTC().Format(time.RFC3339Nano), q.page, q.count)
	fmt.Fprintf(&b, "<wd:Response_Results><wd:Total_Results>%d</wd:Total_Results><wd:Total_Pages>%d</wd:Total_Pages><wd:Page_Results>%d</wd:Page_Results><wd:Page>%d</wd:Page></wd:Response_Results>",
		total, pages, hi-lo, q.page)
	b.WriteString("<wd:Response_Data>")
	for _, rec := range recs[lo:hi] {
		s.renderWorker(&b, rec.state(q.asOf, q.entry), q)
	}
	b.WriteString("</wd:Response_Data></wd:Get_Workers_Response>")
	return b.String(), nil
}

// match returns the records a query selects, in creation order.
func (s *Server) match(q query, now time.Time) ([]*record, *fault) {
	for _, id := range q.orgs {
		if _, ok := s.orgs[id]; !ok {
			return nil, validation(fmt.Sprintf("Invalid ID value. '%s' is not a valid ID value for type = 'Organization_Reference_ID'", id),
				xpathReq+"/bsvc:Request_Criteria[1]/bsvc:Organization_Reference[1]/bsvc:ID[1]")
		}
	}
	var cand []*record
	if len(q.refs) > 0 {
		seen := map[*record]bool{}
		for _, id := range q.refs {
			found := s.lookup(id)
			if len(found) == 0 && !q.skip {
				return nil, validation(fmt.Sprintf("Invalid ID value. '%s' is not a valid ID value for type = '%s'", id.Value, id.Type),
					xpathReq+"/bsvc:Request_References[1]/bsvc:Worker_Reference[1]/bsvc:ID[1]")
			}
			for _, r := range found {
				if !seen[r] {
					seen[r] = true
					cand = append(cand, r)
				}
			}
		}
		slices.SortFunc(cand, func(a, b *record) int { return a.seq - b.seq })
	} else {
		cand = s.records
	}
	window := !q.updFrom.IsZero() || q.effFrom != ""
	var out []*record
	for _, r := range cand {
		// A window query finds a rescinded hire too (its rescind is in
		// the log); any other read finds only records that exist.
		if !window && !r.exists(q.entry) {
			continue
		}
		if !q.updFrom.IsZero() && !r.touched(q.updFrom, q.updThrough, now, s.lag) {
			continue
		}
		if q.effFrom != "" && !r.effectiveIn(q.effFrom, q.effThrough, q.entry) {
			continue
		}
		if len(q.orgs) > 0 || q.active {
			w := r.state(q.asOf, q.entry)
			if q.active && !w.Active {
				continue
			}
			if len(q.orgs) > 0 && !inOrgs(w, q.orgs) {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func inOrgs(w Worker, orgs []string) bool {
	for _, id := range w.Orgs {
		if slices.Contains(orgs, id) {
			return true
		}
	}
	for _, id := range w.Memberships {
		if slices.Contains(orgs, id) {
			return true
		}
	}
	return false
}

// lookup finds the records a reference ID names. [U] A rehire keeps its
// Employee_ID on a new record here (as the notes say of Worker_ID), so an
// Employee_ID can name two records: the fake returns both.
func (s *Server) lookup(id idEl) []*record {
	v := strings.TrimSpace(id.Value)
	switch id.Type {
	case "WID":
		if r := s.byWID[v]; r != nil {
			return []*record{r}
		}
	case "Employee_ID", "Contingent_Worker_ID":
		var out []*record
		for _, r := range s.byID[v] {
			if r.contingent == (id.Type == "Contingent_Worker_ID") {
				out = append(out, r)
			}
		}
		return out
	}
	return nil
}
