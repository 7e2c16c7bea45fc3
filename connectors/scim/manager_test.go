package scim

import "testing"

// TestManagerCreatedLater: a user written before its manager exists (the
// source lists reports first) gets its manager as soon as this
// connection creates the manager, not only at the next full sync; an
// update that finds the manager also settles it.
func TestManagerCreatedLater(t *testing.T) {
	c, _ := startTarget(t, nil)
	ctx := t.Context()
	report := fullUser("rep-1", "ada")
	report.Attributes["manager"] = "boss-1"
	other := fullUser("rep-2", "alan")
	other.Attributes["manager"] = "boss-2"
	if _, err := c.CreateUser(ctx, report); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-1").Attributes["manager"]; got != "" {
		t.Fatalf("manager before it exists: %q", got)
	}

	if _, err := c.CreateUser(ctx, fullUser("boss-1", "grace")); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-1").Attributes["manager"]; got != "boss-1" {
		t.Errorf("ada's manager once grace is created: %q, want boss-1", got)
	}
	if got := getUser(t, c, "rep-2").Attributes["manager"]; got != "" {
		t.Errorf("alan waits for another manager, got %q", got)
	}

	// Written again without a manager: no longer waiting for one.
	other.Attributes["manager"] = ""
	if err := c.UpdateUser(ctx, getUser(t, c, "rep-2").ID, other); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, fullUser("boss-2", "edsger")); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-2").Attributes["manager"]; got != "" {
		t.Errorf("alan's manager after it was dropped: %q", got)
	}
}
