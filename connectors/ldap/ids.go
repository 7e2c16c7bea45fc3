package ldap

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// idKind is how the values of an id attribute become ExternalIDs.
type idKind int

const (
	idText       idKind = iota // the value as it is
	idEntryUUID                // RFC 4530 entryUUID, in lower case as sync controls report it
	idNsUniqueID               // 389-ds nsUniqueId, 4 groups of 8 hex digits, in lower case
	idGUID                     // Active Directory objectGUID: 16 bytes, as the canonical GUID string
)

func idKindOf(attr string) idKind {
	switch strings.ToLower(attr) {
	case "entryuuid":
		return idEntryUUID
	case "nsuniqueid":
		return idNsUniqueID
	case "objectguid":
		return idGUID
	}
	return idText
}

// entryID returns the entry's ExternalID, from its id attribute; "" when
// it has none (or an objectGUID that is not 16 bytes).
func (c *ldapConnector) entryID(e *ldap.Entry) string {
	switch c.idKind {
	case idGUID:
		raw := e.GetEqualFoldRawAttributeValue(c.cfg.IDAttribute)
		if len(raw) != 16 {
			return ""
		}
		return formatGUID(raw)
	case idEntryUUID, idNsUniqueID:
		return strings.ToLower(e.GetEqualFoldAttributeValue(c.cfg.IDAttribute))
	}
	return e.GetEqualFoldAttributeValue(c.cfg.IDAttribute)
}

// idFilter is the filter item that matches the entry whose ExternalID is
// id: an objectGUID as its escaped bytes, anything else escaped as text.
func (c *ldapConnector) idFilter(id string) (string, error) {
	if c.idKind == idGUID {
		b, err := parseGUID(id)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("(%s=%s)", c.cfg.IDAttribute, escapeBytes(b)), nil
	}
	return fmt.Sprintf("(%s=%s)", c.cfg.IDAttribute, ldap.EscapeFilter(id)), nil
}

// syncIDOf maps a sync UUID of the content sync control (RFC 4533), as a
// syncKey, to the ExternalID of the entry it names; ok is false when the
// id attribute is not the one the server derives its sync UUIDs from:
// entryUUID on OpenLDAP, nsUniqueId on 389-ds.
func (c *ldapConnector) syncIDOf(key string) (id string, ok bool) {
	switch {
	case c.tracking == syncOpenLDAP && c.idKind == idEntryUUID:
		if len(key) != 32 {
			return "", false
		}
		return key[0:8] + "-" + key[8:12] + "-" + key[12:16] + "-" + key[16:20] + "-" + key[20:32], true
	case c.tracking == sync389 && c.idKind == idNsUniqueID:
		return nsUniqueIDOf(key)
	}
	return "", false
}

// nsUniqueIDOf renders a sync UUID of 389-ds (the 16 bytes of the
// nsUniqueId) as an nsUniqueId: 7a72bdba-e67811f1-a629b89b-64c78ed4.
func nsUniqueIDOf(syncUUID string) (string, bool) {
	h := strings.ToLower(strings.ReplaceAll(syncUUID, "-", ""))
	if _, err := hex.DecodeString(h); err != nil || len(h) != 32 {
		return "", false
	}
	return h[0:8] + "-" + h[8:16] + "-" + h[16:24] + "-" + h[24:32], true
}

// formatGUID renders the 16 bytes of an objectGUID as the canonical GUID
// string, lower case, without braces: the first three fields are stored
// little-endian, the last eight bytes in order (MS-DTYP 2.3.4).
func formatGUID(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16])
}

// parseGUID is the inverse of formatGUID; it takes either letter case,
// with or without braces.
func parseGUID(s string) ([]byte, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	parts := strings.Split(t, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return nil, fmt.Errorf("%q is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	}
	raw, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		return nil, fmt.Errorf("%q is not a GUID: %w", s, err)
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(b[8:], raw[8:])
	return b, nil
}

// escapeBytes escapes every byte for a filter assertion value (RFC 4515).
func escapeBytes(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, `\%02x`, c)
	}
	return s.String()
}
