package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// The Web UI shows a workflow's summary and details (its user metadata)
// at the top of its page. They are given when the workflow starts, by
// `starter rule create` and `connection create`, and the server (1.29)
// does not carry them into the run a continue-as-new starts: a rule's
// page then shows what the workflow says itself, its current details
// (while a worker runs) and its memo (always; see StatusMemo.Summary).
// A connection continues as new only after hundreds of updates.

// RuleSummary is the one line a rule's page and list row show.
func RuleSummary(c RuleConfig) string {
	return fmt.Sprintf("idsync rule %s: %s (%s) → %s (%s)", c.Name, c.SourceConnection, c.SourceType, c.TargetConnection, c.TargetType)
}

// RuleDetails says, in markdown, what a rule is and where its status is.
func RuleDetails(c RuleConfig) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Provisioning rule `%s`**: users, groups and memberships from **%s** (%s) to **%s** (%s), polled every %s.\n\n",
		c.Name, c.SourceConnection, c.SourceType, c.TargetConnection, c.TargetType, c.EffectivePollInterval()))
	b.WriteString(fmt.Sprintf("- Live status: *Current Details* below, while a worker runs; `starter status %s`\n", c.Name))
	b.WriteString("- Kept by the server, worker or not: *Memo* → `status` (state, managed counts, last error)\n")
	b.WriteString(fmt.Sprintf("- Who was created, changed, deprovisioned: `starter status %s --objects`\n", c.Name))
	b.WriteString(fmt.Sprintf("- Settings: `starter rule show %s`\n\n", c.Name))
	b.WriteString("Set when the rule was created; after the rule continues as new (every few thousand events) the server no longer shows these panels, and Current Details and the Memo remain.")
	return b.String()
}

// ConnectionSummary is the one line a connection's page shows.
func ConnectionSummary(conn connectors.Connection) string {
	return fmt.Sprintf("idsync connection %s (%s)", conn.Name, conn.Type)
}

// ConnectionDetails says, in markdown, what a connection is: its
// settings, which hold secret references only (env:NAME, file:PATH),
// never secret values; the CLI refuses literals.
func ConnectionDetails(conn connectors.Connection) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Connection `%s`** (%s)\n\n", conn.Name, conn.Type))
	if len(conn.Settings) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, conn.Settings, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(conn.Settings)
		}
		b.WriteString(fmt.Sprintf("Settings (secret references, never secrets):\n\n```json\n%s\n```\n\n", pretty.String()))
	}
	if conn.WebhookSecret != "" {
		b.WriteString(fmt.Sprintf("Change webhooks signed with the key at `%s`.\n\n", conn.WebhookSecret))
	}
	b.WriteString(fmt.Sprintf("Rules that use it: `starter status --connection %s`; test it: `starter connection test %s`.", conn.Name, conn.Name))
	return b.String()
}
