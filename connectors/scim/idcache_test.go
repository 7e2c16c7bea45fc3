package scim

import (
	"fmt"
	"testing"
)

// TestIDCacheFull: a full cache keeps what it knows and still follows
// changes to known ids; it neither forgets everything nor grows.
func TestIDCacheFull(t *testing.T) {
	var c idCache
	for i := range maxCachedIDs {
		c.put(fmt.Sprintf("id-%d", i), fmt.Sprintf("ext-%d", i))
	}
	c.put("id-new", "ext-new")
	if _, ok := c.id("ext-new"); ok {
		t.Error("a full cache took a new id")
	}
	if id, ok := c.id("ext-7"); !ok || id != "id-7" {
		t.Errorf("id(ext-7) = %q, %t after an overflowing put: the cache was emptied", id, ok)
	}
	// A known id whose ExternalID changed is updated in both directions.
	c.put("id-7", "ext-7b")
	if id, ok := c.id("ext-7b"); !ok || id != "id-7" {
		t.Errorf("id(ext-7b) = %q, %t", id, ok)
	}
	if _, ok := c.id("ext-7"); ok {
		t.Error("the old ExternalID of id-7 still maps to it")
	}
	c.forget("id-8")
	c.put("id-new", "ext-new")
	if id, ok := c.id("ext-new"); !ok || id != "id-new" {
		t.Errorf("after a forget, id(ext-new) = %q, %t", id, ok)
	}
	if n := len(c.extByID); n != maxCachedIDs {
		t.Errorf("cache holds %d ids, want %d", n, maxCachedIDs)
	}
}
