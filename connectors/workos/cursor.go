package workos

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cursorPrefix versions the cursor's form, so that a later form can tell
// an old cursor and ask for a resync instead of misreading it.
const cursorPrefix = "workos:v1:"

// position is where Changes resumes: after an event (its id and time), or,
// when no event was seen yet, from a time (range_start).
type position struct {
	after string    // an event id, or "" for a time position
	at    time.Time // the event's created_at, or range_start
}

func (p position) String() string {
	if p.after != "" {
		return fmt.Sprintf("%se:%s:%d", cursorPrefix, p.after, p.at.UnixMilli())
	}
	return fmt.Sprintf("%st:%d", cursorPrefix, p.at.UnixMilli())
}

var errCursor = errors.New("not a workos cursor")

// parseCursor reads "workos:v1:e:<event id>:<unix ms>" or
// "workos:v1:t:<unix ms>".
func parseCursor(s string) (position, error) {
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return position{}, errCursor
	}
	kind, rest, _ := strings.Cut(rest, ":")
	var p position
	var ms string
	switch kind {
	case "e":
		var ok bool
		p.after, ms, ok = strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(p.after, "event_") {
			return position{}, errCursor
		}
	case "t":
		ms = rest
	default:
		return position{}, errCursor
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return position{}, errCursor
	}
	p.at = time.UnixMilli(n).UTC()
	return p, nil
}
