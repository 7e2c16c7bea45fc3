// Package scimfake is an in-memory SCIM 2.0 service provider (RFC 7643,
// RFC 7644) on loopback, for tests and benchmarks. It imitates a generic
// service provider and the SCIM APIs of Slack, Zoom, GitHub Enterprise
// Managed Users and Aquera closely enough that a client that works
// against it should work against the real service: paths, auth, paging,
// filters, PATCH, ETags, uniqueness, error bodies and rate limits.
//
//	srv := scimfake.Start(scimfake.Options{Flavor: scimfake.Slack, Token: "xoxp-test"})
//	defer srv.Close()
//	// point the client at srv.URL (…/scim/v2) with "Bearer xoxp-test"
//
// # Speed
//
// Resources live in maps indexed by id, lower-cased userName, externalId,
// lower-cased emails.value, lower-cased displayName and member id, under
// one RWMutex. An "eq" filter on those (and "and"/"or" of them, and value
// paths such as emails[value eq "…"]) is a map lookup; other filters
// scan. Lists page by startIndex/count over creation order (a delete
// shifts that slice: O(n) memmove, no scan). Group membership changes go
// through the member index, in time independent of the group's size;
// answering a PATCH with the whole group costs O(members), which
// Options.PatchNoContent avoids.
//
// # Common behavior (every flavor unless noted)
//
//   - /Users and /Groups: GET (list, filter, startIndex, count,
//     attributes, excludedAttributes), POST, GET/PUT/PATCH/DELETE by id,
//     POST /.search. /ServiceProviderConfig (patch, filter, etag; no
//     bulk, sort or changePassword), /ResourceTypes, /Schemas. /Bulk and
//     /Me answer 501.
//   - Filters: eq ne co sw ew gt ge lt le pr, and, or, not( ), grouping,
//     value paths; userName, emails and names compare case-insensitively,
//     id and externalId exactly; strings are JSON strings.
//   - PATCH: PatchOp add/remove/replace with or without a path (Entra's
//     replace with an object value), value filters such as
//     members[value eq "id"] and emails[type eq "work"].value, Entra's
//     remove of members by value; all operations or none. replace with a
//     filter that matches nothing is 400 noTarget. PATCH answers 200 with
//     the resource, or 204 with Options.PatchNoContent.
//   - PUT replaces; read-only attributes in the body (id, meta, groups)
//     are ignored. Group members must name existing users or groups.
//   - ETags: meta.version and the ETag header are W/"n"; If-Match on
//     PUT/PATCH/DELETE answers 412 when it does not match; If-None-Match
//     on GET answers 304 when it does.
//   - Uniqueness: userName (case-insensitive) and externalId among users,
//     externalId among groups; 409 with scimType "uniqueness".
//   - Request bodies: at most 1 MiB (413), application/scim+json or
//     application/json (415 otherwise), "schemas" must name the resource.
//   - Errors are urn:ietf:params:scim:api:messages:2.0:Error with status as
//     a string; every SCIM response is Content-Type application/scim+json.
//   - Auth: "Authorization: Bearer <Options.Token>"; 401 with a SCIM error
//     and WWW-Authenticate otherwise. With ClientID set, TokenURL issues
//     tokens for grant_type=client_credentials (RFC 6749 §4.4), accepted
//     until they expire. Without Token and ClientID there is no auth.
//   - Options.RateLimit: token buckets (see RateLimit); FailNext injects
//     failures; Requests records every request.
//
// # Flavors
//
// Generic: base /scim/v2; count capped at 100 by default.
//
// Slack (docs.slack.dev/reference/scim-api, …/scim-api/rate-limits,
// api.slack.com/changelog/2019-06-have-scim-will-paginate): base
// /scim/v2; DELETE /Users/{id} deactivates (active=false, the user stays
// listed and keeps its id), DELETE /Groups/{id} deletes; a user needs an
// email; count above 1000 is served as 1000 and no count gives 10;
// DocumentedRateLimit(Slack) has the org-wide read and write limits and
// the POST /Users limit; 429 with Retry-After in seconds. Ids look like
// Slack's (W… users, S… groups).
//
// Zoom (developers.zoom.us/docs/api/rest/scim-api, …/docs/rooms/oauth,
// …/docs/rooms/s2s-oauth): base /scim2; every SCIM request must send
// "Accept: application/scim+json" (the docs ask for it; the fake answers
// 406 otherwise, a strictness the docs do not state); tokens come from
// TokenURL (POST, Basic client_id:client_secret,
// grant_type=account_credentials and account_id in the form or the
// query), expire after TokenTTL (3600 s), and only issued tokens are
// accepted. Token errors are Zoom's {"reason", "error"}.
//
// GitHub EMU (docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/scim):
// base /scim/v2/enterprises/{Enterprise}; paths are case-sensitive
// (/users is 404) and there are no discovery endpoints; users need
// externalId, displayName and emails, groups externalId (400 otherwise);
// filters are a single eq on id, externalId, displayName or (users)
// userName ("multiple filters are not supported"); no count gives 30;
// a user PATCH operation whose path has a value filter is ignored (the
// docs: such selectors "will be ineffective"); errors carry GitHub's
// message and documentation_url with a numeric status; with a RateLimit
// every response carries x-ratelimit-limit/-remaining/-used/-reset and an
// over-limit answer is RateLimit.Status (429, or 403 as GitHub may send)
// with retry-after. Not modelled: active=false obfuscating the handle and
// primary email, and DELETE anonymizing rather than removing (the fake
// removes the user, which is what a client sees: it is no longer listed).
//
// Aquera: base /{Tenant}/scim/v2 with a bearer token; otherwise Generic.
// Aquera publishes no public SCIM reference; its connectors (for example
// PingFederate's) take a per-tenant base URL and a token, so the fake
// puts the tenant first in the path: a client that builds paths from
// the configured base URL, rather than assuming /scim/v2 at the root,
// works.
package scimfake
