package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// maxBatch is the most requests one $batch carries
// (https://learn.microsoft.com/en-us/graph/json-batching).
const maxBatch = 20

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"` // below the base: /groups/{id}/…
	Body   any    `json:"body,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// batch sends up to 20 requests in one POST /$batch and returns the
// answers by the requests' index; Graph answers them in any order.
func (c *graphConnector) batch(ctx context.Context, reqs []batchRequest) ([]batchResponse, error) {
	for i := range reqs {
		reqs[i].ID = strconv.Itoa(i)
	}
	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	if err := c.do(ctx, http.MethodPost, "/$batch", map[string]any{"requests": reqs}, &out); err != nil {
		return nil, err
	}
	byIndex := make([]batchResponse, len(reqs))
	seen := 0
	for _, r := range out.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 0 || i >= len(reqs) || byIndex[i].Status != 0 {
			return nil, fmt.Errorf("graph: $batch: an answer with an unknown or repeated id %q", r.ID)
		}
		byIndex[i] = r
		seen++
	}
	if seen != len(reqs) {
		return nil, fmt.Errorf("graph: $batch: %d answers to %d requests", seen, len(reqs))
	}
	return byIndex, nil
}

// innerError is the error of one answer in a batch, as do would have
// made it.
func innerError(req batchRequest, r batchResponse) error {
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &eb)
	e := &Error{Method: req.Method, Path: req.URL, Status: r.Status, Code: quote(eb.Error.Code), Message: quote(eb.Error.Message)}
	if r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable {
		wait, _ := httpx.RetryAfter(r.Headers["Retry-After"], time.Now())
		return &connectors.RateLimitError{RetryAfter: wait, Err: e}
	}
	return e
}

// removeBatch removes up to 20 members in one $batch. An inner 429 or
// 503 (each request is throttled on its own) is sent again alone, which
// waits out its Retry-After in the transport.
func (c *graphConnector) removeBatch(ctx context.Context, groupID string, userIDs []string) error {
	reqs := make([]batchRequest, len(userIDs))
	for i, id := range userIDs {
		reqs[i] = batchRequest{Method: http.MethodDelete, URL: memberRefPath(groupID, id)}
	}
	answers, err := c.batch(ctx, reqs)
	if err != nil {
		return fmt.Errorf("graph: remove members from group %s: %w", groupID, err)
	}
	for i, a := range answers {
		if a.Status/100 == 2 {
			continue
		}
		err := innerError(reqs[i], a)
		var rl *connectors.RateLimitError
		if errors.As(err, &rl) {
			err = c.do(ctx, http.MethodDelete, reqs[i].URL, nil, nil)
		}
		if err := removed(err, groupID); err != nil {
			return fmt.Errorf("graph: remove user %s from group %s: %w", userIDs[i], groupID, err)
		}
	}
	return nil
}

// removed is the outcome of removing a member: a 404 naming the member
// (not a member, or gone) is done; one naming the group is ErrNotFound.
func removed(err error, groupID string) error {
	var ge *Error
	if errors.As(err, &ge) && ge.Status == http.StatusNotFound && !strings.Contains(ge.Message, "'"+groupID+"'") {
		return nil
	}
	return err
}
