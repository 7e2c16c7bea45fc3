package reconcile

import "unicode/utf8"

// Object names one object a run wrote, or in a dry run would write, or
// failed to: what operators ask after a run ("who was deprovisioned?"),
// which counts cannot answer. A result carries at most maxObjects of them
// (results go into workflow history); ObjectsDropped counts the rest.
type Object struct {
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Kind is KindUser or KindGroup.
	Kind string `json:"kind"`
	// Name is the user's userName or the group's display name; for a
	// failure, what was being done ("update user alice (source id 7)").
	Name string `json:"name,omitempty"`
	// ID is the source's id of the object (its ExternalID), when known.
	ID string `json:"id,omitempty"`
	// Error says why an object failed or conflicts.
	Error string `json:"error,omitempty"`
}

// Values of Object.Action.
const (
	ActionCreated       = "created"
	ActionUpdated       = "updated"
	ActionAdopted       = "adopted"
	ActionDeprovisioned = "deprovisioned"
	ActionFailed        = "failed"
	ActionConflict      = "conflict"
)

// maxObjects bounds the objects a result names; maxObjectError the error
// each keeps.
const (
	maxObjects     = 100
	maxObjectError = 300
)

// did counts an action on one object of t's kind and names the object.
func (t *tally) did(action, name, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch action {
	case ActionCreated:
		t.counts.Created++
		t.noteManaged(id)
	case ActionUpdated:
		t.counts.Updated++
	case ActionAdopted:
		t.counts.Adopted++
		t.noteManaged(id)
	case ActionDeprovisioned:
		t.counts.Deprovisioned++
		t.noteUnmanaged(id)
	}
	t.name(Object{Action: action, Kind: t.kind, Name: name, ID: id})
}

// name tells Syncer.Named of o and keeps it; t.mu is held.
func (t *tally) name(o Object) {
	if t.named != nil {
		t.named(o)
	}
	t.keep(o)
}

// keep keeps o if there is room; t.mu is held.
func (t *tally) keep(o Object) {
	if len(t.objects) >= maxObjects {
		t.objectsDropped++
		return
	}
	t.objects = append(t.objects, o)
}

// addObjects appends objects to a result's, within maxObjects.
func (r *Result) addObjects(objects []Object, dropped int) {
	room := max(0, maxObjects-len(r.Objects))
	n := min(room, len(objects))
	r.Objects = append(r.Objects, objects[:n]...)
	r.ObjectsDropped += dropped + len(objects) - n
}

// clip bounds an object's error, never cutting a UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxObjectError {
		return s
	}
	s = s[:maxObjectError]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
