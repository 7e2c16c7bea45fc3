// Package google is the "google" connection type: Google Workspace users
// and groups through the Admin SDK Directory API, with the official client
// google.golang.org/api/admin/directory/v1, as a target and as a source; a
// source finds what changed through the Admin SDK Reports API
// (google.golang.org/api/admin/reports/v1).
//
// # Auth
//
// A service account key with domain-wide delegation: the key (a secret
// reference, never in history) signs a JWT for subject, an admin the
// account impersonates. In the Admin console (Security, API controls,
// Domain-wide delegation) the service account's client id is granted:
//
//   - a target: admin.directory.user, admin.directory.group and
//     admin.directory.group.member (Scopes);
//   - a source (readOnly): their .readonly forms (ReadOnlyScopes) and,
//     for changes "reports" (the default), admin.reports.audit.readonly
//     (ReportsScope), with a subject allowed to read reports. The report
//     is read with a token of that scope alone, so that a grant without
//     it costs the directory nothing: polls fall back to the snapshot.
//
// A connection's settings:
//
//	{"domain": "example.org", "subject": "idsync-admin@example.org",
//	 "credentials": "file:/run/secrets/idsync-sa.json", "deprovision": "disable"}
//
// # How users map
//
// See users.go. userName is the account's primaryEmail (name@domain, or
// the part before @domain when the userName has no @), its letter case
// kept in an externalIds entry of type login_id, as Google lower-cases
// primaryEmail; the ExternalID is an externalIds entry of type custom,
// customType "idsync"; email is a secondary address of type work; title
// and department the primary organization; employeeNumber the externalIds
// entry of type organization (the console's Employee ID); manager a
// relation of type manager. Active is not suspended.
//
// Caveats of the mapping:
//
//   - Google replaces a list field (externalIds, emails, organizations,
//     relations) as a whole when a write sends it. An update therefore
//     reads the user first and sends each list back with the entries
//     idsync does not own kept: other externalIds (another tool's custom
//     types, an admin's), addresses other than the non-primary work one,
//     organizations other than the primary one and, in the primary one,
//     every key but title and department, relations other than manager.
//     What idsync owns follows the source, emptiness included: a source
//     user without employeeNumber, manager, title or department has the
//     console's Employee ID, manager relation, or primary title or
//     department removed. An admin's edit made between the read and the
//     patch is lost (no conditional write), and comes back only if the
//     admin makes it again.
//   - Google requires a given and a family name (users.insert; "Invalid
//     Given/Family Name"). CreateUser refuses a user without either before
//     any request, with connectors.ErrRejected (the object is counted
//     failed, the rest of the run goes on); an update sends the names as
//     the source has them, and Google's 400 for an empty one is the same
//     ErrRejected. Map a fallback name in the source when some users have
//     none.
//   - Google refuses in primaryEmail spaces, double quotes, commas, parentheses,
//     asterisks and non-ASCII letters: such a userName is rejected.
//   - Google keeps a renamed account's old address as an alias. A lookup
//     by userName that lands on an alias is no match (that account is
//     someone else's now), and creating an account at an alias is refused
//     (409): such a user fails until an admin removes the alias.
//
// # Rate limits, budget, batches
//
// A 429, and a 403 whose reason is rateLimitExceeded,
// userRateLimitExceeded or quotaExceeded, are backed off (retryWait,
// doubling, maxRetries times) and never counted as failures: Google
// refused them before applying them; past maxRetries the call is a
// connectors.RateLimitError, which the engine waits out. Every request
// first spends the connection's budget, requestsPerMinute, default
// 2,400: the Admin SDK API's default quota, "2,400 queries per minute per
// user per Google Cloud project" (developers.google.com/workspace/admin/directory/v1/limits),
// shared by the Directory and Reports APIs and by every connector opened
// on the connection in a worker.
//
// Writes are one request each. Google's batch endpoint (multipart/mixed,
// up to 1,000 calls) is not in the Go client, which dropped batch support
// (google-api-go-client issues 29 and 396); it would be hand-written REST
// beside the official client, and saves no quota, since each call in a
// batch counts as one request. members.insert has no bulk form either.
//
// # As a source
//
// A user's and a group's ExternalID is Google's immutable id, which
// survives renames of the address; a group's members are its direct
// members of type USER (nested groups are not expanded).
//
// The Directory API has no modified-since filter. With changes "reports"
// (the default) a poll reads the Reports API's admin activity report
// (activities.list, userKey all, applicationName admin) from where the
// last poll read up to, less reportsLag (default 15m): Google reports
// admin events "near real time (couple of minutes)", a few later and, "in
// rare cases", never (support.google.com/a/answer/7061566). Events the
// cursor has seen are skipped. The events name users and groups by
// address: a GROUP_EMAIL event (CREATE_GROUP, CHANGE_GROUP_NAME,
// CHANGE_GROUP_DESCRIPTION, CHANGE_GROUP_EMAIL, ADD_GROUP_MEMBER,
// REMOVE_GROUP_MEMBER, UPDATE_GROUP_MEMBER, …) makes the group read again
// with its members; a USER_EMAIL event (CREATE_USER, RENAME_USER,
// SUSPEND_USER, UNSUSPEND_USER, CHANGE_FIRST_NAME, CHANGE_LAST_NAME,
// CHANGE_DISPLAY_NAME, CHANGE_USER_*, ARCHIVE_USER, UNDELETE_USER, …) the
// user; for RENAME_USER and CHANGE_GROUP_EMAIL both the old address (an
// alias at Google) and the new one, NEW_VALUE. Each is read by a direct
// get of its address, never by a search (Google's search index lags
// writes). An address that reads 404 was renamed or deleted since, which
// another event says, and is skipped. DELETE_USER gives the deleted user's id
// from the listing of deleted users (users.list showDeleted, which keeps
// them about 20 days); DELETE_GROUP, and a deleted user not in that
// listing, ask for a full resync (ChangeSet.ResyncRequired): the report
// does not say the deleted group's id. A poll reads at most maxChanges
// (200) users and groups; with more, it sets ChangeSet.More and the rule
// polls again at once.
//
// The cursor is "google:v1:<unix ms>:<seen>": the time the next poll
// reads the report from, and the 64-bit hashes (id.time and
// id.uniqueQualifier) of the activities from then on already applied, in
// unpadded base64url, at most 500 (about 5 KiB); with more in the window
// the window is shortened to them. A cursor of another form asks for a
// resync.
//
// The report does not see everything: a change a user makes to their own
// profile, a change by a process that records no admin event, an event
// reported later than reportsLag or never. The engine's periodic full
// resync (ResyncInterval, 24h) remains the safety net that finds those,
// and must stay on.
//
// When the Reports API refuses the connection (unauthorized_client for
// the scope, a 401 or 403 that is not a rate limit), polls fall back to
// the snapshot: a digest of a full listing compared with the cursor's,
// as connectors.Incrementally does, logged once at Warn. The report is
// tried again an hour later; once it answers and nothing changed since
// the digest, the cursor becomes a reports cursor again. changes
// "snapshot" polls by digest always and asks for no reports scope.
//
// What a poll costs, in requests to Google (one token request an hour
// per scope set comes on top):
//
//   - changes "reports", nothing changed: 1 (activities.list; one more
//     per 1,000 admin events in the window read again).
//   - changes "reports", something changed: that, plus 1 users.get per
//     changed user, 1 groups.get and 1 members.list per 200 members per
//     changed group, and for deletions 1 users.list per pageSize deleted
//     users. The engine checks for changes before it polls, so a poll that
//     finds changes reads them twice.
//   - changes "snapshot", or fallen back: ceil(users/pageSize) +
//     ceil(groups/200) + one members listing per group (one more per 200
//     members), on every poll; e.g. 105 for 2,000 users and 100 groups. With
//     nothing changed the change set is empty: the target is neither read
//     nor written. With anything changed, a full resync follows.
package google
