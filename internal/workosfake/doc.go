// Package workosfake is an in-process fake of WorkOS Directory Sync, for
// idsync's tests: the state APIs (/directory_users, /directory_groups), the
// Events API (/events) and signed webhook delivery, on loopback, with a Go
// API that changes the directory as an identity provider would and records
// the events WorkOS would send for each change.
//
//	srv := workosfake.ForTest(t, workosfake.Options{})
//	dir := srv.Directory()
//	ada := dir.CreateUser(workosfake.UserInput{Email: "ada@example.org", FirstName: "Ada"})
//	eng := dir.CreateGroup("Engineering")
//	dir.AddMember(eng.ID, ada.ID)
//	// point the connector at srv.URL() with "Bearer "+srv.APIKey()
//
// # What it imitates
//
// The shapes follow the WorkOS OpenAPI spec (@workos/openapi-spec, pinned
// in testdata/workos-openapi), which openapi_test.go validates every
// response against, and the project's shared API notes on WorkOS,
// section B (the official SDKs, workos-go and workos-node, and the docs).
// Where neither says what the live API does, the fake picks an answer and
// marks it [U] with the reason.
//
//   - Auth: "Authorization: Bearer <Options.APIKey>"; 401 otherwise.
//   - Lists: {object:"list",data,list_metadata:{before,after}}, limit 1–100
//     (default 10), order asc|desc (default desc)|normal, cursors before
//     and after by object id. Ids are ULID-like, so they sort in creation
//     order and a cursor of a deleted object still has a place.
//   - Events: always oldest first by (created_at, id), whatever order says
//     (workos/workos-node#1610); events filter in the three encodings
//     (events=a&events=b, events=a,b, events[]=a); after, limit,
//     range_start, range_end, organization_id; list_metadata.after is null
//     at the end of the stream. Events older than the retention (default
//     30 days) are gone: an after cursor that names one, or an event the
//     fake never had, is a 400 [U].
//   - Semantics of section B3: user.updated carries previous_attributes; a
//     soft delete is user.updated with state inactive; group.deleted sends
//     no user_removed; a membership change does not bump updated_at.
//   - Webhooks: Deliver POSTs each event not yet delivered to a URL, signed
//     with WorkOS-Signature: t=<unix ms>, v1=<hex HMAC-SHA256(secret,
//     t+"."+body)>, and can duplicate, reorder and delay them, as WorkOS
//     does not promise order or exactly-once delivery.
//
// Knobs (SetKnobs) make it slow and imperfect as the real API is: latency,
// a request rate limit on /directory_users (WorkOS: 4 requests/s per
// directory) answered by 429 with Retry-After, random 429s and 5xxs, and
// an outage. Requests counts what was asked, by path.
package workosfake
