package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// wireEvent is an event as a webhook sends it.
type wireEvent struct {
	Kind       string          `json:"kind"`
	Op         string          `json:"op"`
	ID         string          `json:"id,omitempty"`
	GroupID    string          `json:"groupId,omitempty"`
	UserID     string          `json:"userId,omitempty"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

type wireBatch struct {
	Changes []wireEvent `json:"changes"`
}

// userAttributes are the attributes a user upsert may carry.
type userAttributes struct {
	UserName    string            `json:"userName"`
	GivenName   string            `json:"givenName"`
	FamilyName  string            `json:"familyName"`
	DisplayName string            `json:"displayName"`
	Email       string            `json:"email"`
	Active      *bool             `json:"active"`
	Attributes  map[string]string `json:"attributes"`
}

type groupAttributes struct {
	DisplayName string    `json:"displayName"`
	Members     *[]string `json:"members"`
}

// Decode parses and validates a batch. Unknown fields are errors, and the
// error names the event and the problem.
func Decode(body []byte) ([]reconcile.Event, error) {
	var b wireBatch
	if err := strictUnmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if len(b.Changes) == 0 {
		return nil, errors.New(`"changes" is empty or missing`)
	}
	if len(b.Changes) > MaxEvents {
		return nil, fmt.Errorf("%d changes in one batch: at most %d", len(b.Changes), MaxEvents)
	}
	events := make([]reconcile.Event, 0, len(b.Changes))
	for i, w := range b.Changes {
		e, err := w.event()
		if err != nil {
			return nil, fmt.Errorf("changes[%d]: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

func (w wireEvent) event() (reconcile.Event, error) {
	e := reconcile.Event{Kind: w.Kind, Op: w.Op, ID: w.ID, GroupID: w.GroupID, UserID: w.UserID}
	if err := e.Validate(); err != nil {
		return e, err
	}
	for _, id := range []string{w.ID, w.GroupID, w.UserID} {
		if len(id) > maxIDLength {
			return e, fmt.Errorf("an id is longer than %d bytes", maxIDLength)
		}
	}
	if len(w.Attributes) == 0 || string(w.Attributes) == "null" {
		return e, nil
	}
	if w.Op == reconcile.OpDelete || w.Kind == reconcile.KindMembership {
		return e, fmt.Errorf("attributes are only allowed on user and group upserts")
	}
	switch w.Kind {
	case reconcile.KindUser:
		var a userAttributes
		if err := strictUnmarshal(w.Attributes, &a); err != nil {
			return e, fmt.Errorf("user attributes: %w", err)
		}
		if a.UserName == "" {
			return e, errors.New("user attributes: userName is required")
		}
		active := true
		if a.Active != nil {
			active = *a.Active
		}
		e.User = &connectors.User{
			ExternalID: w.ID, UserName: a.UserName, GivenName: a.GivenName, FamilyName: a.FamilyName,
			DisplayName: a.DisplayName, Email: a.Email, Active: active, Attributes: a.Attributes,
		}
	case reconcile.KindGroup:
		var a groupAttributes
		if err := strictUnmarshal(w.Attributes, &a); err != nil {
			return e, fmt.Errorf("group attributes: %w", err)
		}
		if a.DisplayName == "" {
			return e, errors.New("group attributes: displayName is required")
		}
		e.Group = &connectors.Group{ExternalID: w.ID, DisplayName: a.DisplayName}
		if a.Members != nil {
			e.Group.Members = *a.Members
			e.SetMembers = true
		}
	}
	return e, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
