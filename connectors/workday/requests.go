package workday

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ref is a Worker_Reference ID to request.
type ref struct{ typ, value string }

// workersQuery is one Get_Workers request, without its page.
type workersQuery struct {
	refs                []ref
	updFrom, updThrough time.Time
	effFrom, effThrough string
	org                 string // Organization_Reference_ID
	excludeInactive     bool
	asOf                string    // As_Of_Effective_Date; required
	entry               time.Time // As_Of_Entry_DateTime; zero: the tenant's now
	count               int
	refsOnly            bool // Response_Group with references only
}

const momentLayout = "2006-01-02T15:04:05.000Z07:00"

func (q workersQuery) body(version string, page int) string {
	var b strings.Builder
	b.WriteString(`<bsvc:Get_Workers_Request bsvc:version="` + xmlText(version) + `">`)
	if len(q.refs) > 0 {
		// [U] Skip_Non_Existing_Instances is an attribute here, as the
		// notes' clients send it.
		b.WriteString(`<bsvc:Request_References bsvc:Skip_Non_Existing_Instances="true">`)
		for _, r := range q.refs {
			b.WriteString(`<bsvc:Worker_Reference><bsvc:ID bsvc:type="` + r.typ + `">` + xmlText(r.value) + `</bsvc:ID></bsvc:Worker_Reference>`)
		}
		b.WriteString(`</bsvc:Request_References>`)
	}
	if !q.updFrom.IsZero() || q.effFrom != "" || q.org != "" || q.excludeInactive {
		b.WriteString(`<bsvc:Request_Criteria>`)
		if !q.updFrom.IsZero() || q.effFrom != "" {
			b.WriteString(`<bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data>`)
			if !q.updFrom.IsZero() {
				b.WriteString(`<bsvc:Updated_From>` + q.updFrom.UTC().Format(momentLayout) + `</bsvc:Updated_From>`)
				b.WriteString(`<bsvc:Updated_Through>` + q.updThrough.UTC().Format(momentLayout) + `</bsvc:Updated_Through>`)
			}
			if q.effFrom != "" {
				b.WriteString(`<bsvc:Effective_From>` + q.effFrom + `</bsvc:Effective_From>`)
				b.WriteString(`<bsvc:Effective_Through>` + q.effThrough + `</bsvc:Effective_Through>`)
			}
			b.WriteString(`</bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data>`)
		}
		if q.org != "" {
			// [U] The ID type of an org reference by its reference id.
			b.WriteString(`<bsvc:Organization_Reference><bsvc:ID bsvc:type="Organization_Reference_ID">` + xmlText(q.org) + `</bsvc:ID></bsvc:Organization_Reference>`)
		}
		if q.excludeInactive {
			b.WriteString(`<bsvc:Exclude_Inactive_Workers>true</bsvc:Exclude_Inactive_Workers>`)
		}
		b.WriteString(`</bsvc:Request_Criteria>`)
	}
	b.WriteString(`<bsvc:Response_Filter><bsvc:As_Of_Effective_Date>` + q.asOf + `</bsvc:As_Of_Effective_Date>`)
	if !q.entry.IsZero() {
		b.WriteString(`<bsvc:As_Of_Entry_DateTime>` + q.entry.UTC().Format(momentLayout) + `</bsvc:As_Of_Entry_DateTime>`)
	}
	b.WriteString(`<bsvc:Page>` + strconv.Itoa(page) + `</bsvc:Page><bsvc:Count>` + strconv.Itoa(q.count) + `</bsvc:Count></bsvc:Response_Filter>`)
	if q.refsOnly {
		b.WriteString(`<bsvc:Response_Group><bsvc:Include_Reference>true</bsvc:Include_Reference></bsvc:Response_Group>`)
	} else {
		b.WriteString(`<bsvc:Response_Group><bsvc:Include_Reference>true</bsvc:Include_Reference><bsvc:Include_Personal_Information>true</bsvc:Include_Personal_Information>` +
			`<bsvc:Include_Employment_Information>true</bsvc:Include_Employment_Information><bsvc:Include_Organizations>true</bsvc:Include_Organizations>` +
			`<bsvc:Include_Management_Chain_Data>true</bsvc:Include_Management_Chain_Data></bsvc:Response_Group>`)
	}
	b.WriteString(`</bsvc:Get_Workers_Request>`)
	return b.String()
}

// maxPages bounds a paged read, against a server that never says it is
// done.
const maxPages = 100_000

// getWorkers reads every page of q, calling fn with each page's records.
func (c *conn) getWorkers(ctx context.Context, q workersQuery, fn func([]record) error) error {
	if q.count == 0 {
		q.count = c.cfg.PageSize
	}
	for page := 1; page <= maxPages; page++ {
		rb, err := c.call(ctx, "Get_Workers", q.body(c.cfg.Version, page))
		if err != nil {
			return err
		}
		resp := rb.Body.GetWorkers
		if resp == nil {
			return &MalformedError{Op: "Get_Workers", Status: 200, Reason: "no Get_Workers_Response in the body"}
		}
		recs := make([]record, 0, len(resp.Workers))
		for i := range resp.Workers {
			r := resp.Workers[i].toRecord()
			if r.WID == "" || r.WorkerID == "" {
				return &MalformedError{Op: "Get_Workers", Status: 200, Reason: fmt.Sprintf("worker %d of page %d has no WID or Worker_ID", i+1, page)}
			}
			recs = append(recs, r)
		}
		c.learn(recs)
		if err := fn(recs); err != nil {
			return err
		}
		if page >= resp.Results.Pages || len(resp.Workers) == 0 {
			return nil
		}
	}
	return fmt.Errorf("workday: Get_Workers: more than %d pages", maxPages)
}

// learn remembers each record's WID → Worker_ID, to resolve managers.
func (c *conn) learn(recs []record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.wids) > 1_000_000 {
		clear(c.wids)
	}
	for _, r := range recs {
		c.wids[r.WID] = r.WorkerID
	}
}

// readIDs reads every record of the workers with these Worker_IDs as of
// date asOf and moment entry (zero: now). A Worker_ID is an Employee_ID
// or a Contingent_Worker_ID: both are asked for, and what does not exist
// is skipped.
func (c *conn) readIDs(ctx context.Context, ids []string, asOf string, entry time.Time) ([]record, error) {
	var out []record
	per := max(1, c.cfg.PageSize/2)
	for start := 0; start < len(ids); start += per {
		q := workersQuery{asOf: asOf, entry: entry}
		for _, id := range ids[start:min(start+per, len(ids))] {
			q.refs = append(q.refs, ref{"Employee_ID", id}, ref{"Contingent_Worker_ID", id})
		}
		if err := c.getWorkers(ctx, q, func(recs []record) error { out = append(out, recs...); return nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readWIDs reads records by WID as of asOf.
func (c *conn) readWIDs(ctx context.Context, wids []string, asOf string, refsOnly bool) ([]record, error) {
	var out []record
	for start := 0; start < len(wids); start += c.cfg.PageSize {
		q := workersQuery{asOf: asOf, refsOnly: refsOnly}
		for _, w := range wids[start:min(start+c.cfg.PageSize, len(wids))] {
			q.refs = append(q.refs, ref{"WID", w})
		}
		if err := c.getWorkers(ctx, q, func(recs []record) error { out = append(out, recs...); return nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}
