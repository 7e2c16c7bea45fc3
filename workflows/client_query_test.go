package workflows

import (
	"context"
	"errors"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// queryClient answers queries with errs in turn, then with a status.
type queryClient struct {
	client.Client // only QueryWorkflowWithOptions is called
	errs          []error
	calls         int
}

func (q *queryClient) QueryWorkflowWithOptions(context.Context, *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error) {
	q.calls++
	if len(q.errs) > 0 {
		err := q.errs[0]
		q.errs = q.errs[1:]
		return nil, err
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(RuleStatus{Name: "hr"})
	if err != nil {
		return nil, err
	}
	return &client.QueryWorkflowWithOptionsResponse{QueryResult: payloadValue{p}}, nil
}

// payloadValue is a query's answer as the SDK hands it over.
type payloadValue struct{ p *commonpb.Payload }

func (v payloadValue) HasValue() bool { return v.p != nil }
func (v payloadValue) Get(out any) error {
	return converter.GetDefaultDataConverter().FromPayload(v.p, out)
}

// TestQueryRetriesServerCancel: a query the server cancels (its worker
// stopped while the query was on its way) is asked again, a few times;
// other errors are not.
func TestQueryRetriesServerCancel(t *testing.T) {
	canceled := serviceerror.NewCanceled("context canceled")
	tests := []struct {
		name      string
		errs      []error
		wantErr   bool
		wantCalls int
	}{
		{name: "answered", wantCalls: 1},
		{name: "cancelled twice, then answered", errs: []error{canceled, canceled}, wantCalls: 3},
		{name: "cancelled every time", errs: []error{canceled, canceled, canceled, canceled, canceled}, wantErr: true, wantCalls: maxQueryAttempts},
		{name: "not found is not retried", errs: []error{serviceerror.NewNotFound("no such workflow")}, wantErr: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &queryClient{errs: tt.errs}
			st, err := Client{Temporal: q}.RuleStatus(context.Background(), "hr")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if q.calls != tt.wantCalls {
				t.Errorf("%d queries, want %d", q.calls, tt.wantCalls)
			}
			if err == nil && st.Name != "hr" {
				t.Errorf("status %+v", st)
			}
			if tt.name == "not found is not retried" && !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	}
}
