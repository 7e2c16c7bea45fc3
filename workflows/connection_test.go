package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
)

// connectionSuite runs ConnectionWorkflow and ConnectionTestWorkflow.
type connectionSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
}

func TestConnectionSuite(t *testing.T) { suite.Run(t, new(connectionSuite)) }

func (s *connectionSuite) SetupTest()    { s.newEnv() }
func (s *connectionSuite) SetupSubTest() { s.newEnv() }

func (s *connectionSuite) TearDownSubTest() { s.env.AssertExpectations(s.T()) }

func (s *connectionSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

func (s *connectionSuite) newEnv() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.SetTestTimeout(30 * time.Second)
	s.env.RegisterWorkflow(ConnectionWorkflow)
	s.env.RegisterWorkflow(ConnectionTestWorkflow)
	registerUnexpected(s.env, s)
}

var ldapConn = connectors.Connection{
	Name: "corp-ldap", Type: "ldap",
	Settings:      json.RawMessage(`{"url":"ldaps://ldap.corp.example:636","bindDN":"cn=idsync,dc=corp","bindPassword":"env:LDAP_PASSWORD"}`),
	WebhookSecret: "file:/run/secrets/corp-ldap-webhook",
}

func (s *connectionSuite) query() connectors.Connection {
	v, err := s.env.QueryWorkflow(QueryNameConnection)
	s.Require().NoError(err)
	var c connectors.Connection
	s.Require().NoError(v.Get(&c))
	return c
}

// update sends the connection update and returns what became of it;
// onAccept, if given, runs when the workflow accepts it.
func (s *connectionSuite) update(c connectors.Connection, onAccept ...func()) *updateOutcome {
	u := &updateOutcome{sent: true, result: &connectors.Connection{}}
	s.env.UpdateWorkflow(UpdateNameConnection, "", &testsuite.TestUpdateCallback{
		OnAccept: func() {
			u.accepted = true
			for _, f := range onAccept {
				f()
			}
		},
		OnReject: func(err error) { u.rejected = err },
		OnComplete: func(v any, err error) {
			u.done, u.err = true, err
			if err == nil {
				s.Require().NoError(decodeInto(v, u.result))
			}
		},
	}, c)
	return u
}

// TestQueryUpdateDelete: the query returns the settings; an update
// replaces them (and answers with them); a rename or a missing type is
// rejected and changes nothing; the delete signal ends the workflow.
func (s *connectionSuite) TestQueryUpdateDelete() {
	s.env.OnUpsertTypedSearchAttributes(mock.MatchedBy(func(sa temporal.SearchAttributes) bool {
		kind, _ := sa.GetKeyword(SAKind)
		typ, _ := sa.GetKeyword(SAConnectionType)
		return kind == KindConnection && typ == "ldap" && sa.Size() == 2
	})).Return().Once()

	changed := ldapConn
	changed.Settings = json.RawMessage(`{"url":"ldaps://ldap2.corp.example:636","bindDN":"cn=idsync,dc=corp","bindPassword":"env:LDAP_PASSWORD_2"}`)
	renamed := changed
	renamed.Name = "other-ldap"
	untyped := changed
	untyped.Type = ""

	var first, afterUpdate, afterRejected connectors.Connection
	var ok, rename, noType *updateOutcome
	s.env.RegisterDelayedCallback(func() { first = s.query() }, time.Minute)
	s.env.RegisterDelayedCallback(func() { ok = s.update(changed) }, 2*time.Minute)
	s.env.RegisterDelayedCallback(func() { afterUpdate = s.query() }, 3*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		rename = s.update(renamed)
		noType = s.update(untyped)
	}, 4*time.Minute)
	s.env.RegisterDelayedCallback(func() { afterRejected = s.query() }, 5*time.Minute)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(SignalNameDeleteConnection, nil) }, 6*time.Minute)
	s.env.ExecuteWorkflow(ConnectionWorkflow, ldapConn)

	s.Require().True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError(), "deleted: the workflow ends cleanly")
	s.Equal(t0.Add(6*time.Minute), s.env.Now().UTC(), "it ends when deleted")

	s.Equal(ldapConn, first)
	s.True(ok.done)
	s.NoError(ok.err)
	s.Equal(changed, *ok.result.(*connectors.Connection))
	s.Equal(changed, afterUpdate)

	s.Require().Error(rename.rejected)
	s.Contains(rename.rejected.Error(), `cannot rename connection "corp-ldap" to "other-ldap"`)
	s.Require().Error(noType.rejected)
	s.Contains(noType.rejected.Error(), "cannot change the type")
	s.Equal(changed, afterRejected, "rejected updates change nothing")
}

// TestContinueAsNew: the connection continues as new, with its latest
// settings, when the server suggests it or after maxConnectionUpdates
// updates.
func (s *connectionSuite) TestContinueAsNew() {
	tests := []struct {
		name      string
		updates   int
		suggested bool
	}{
		{"suggested", 1, true},
		{"after maxConnectionUpdates updates", maxConnectionUpdates, false},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			var last connectors.Connection
			var outcomes []*updateOutcome
			s.env.RegisterDelayedCallback(func() {
				for i := range tc.updates {
					last = ldapConn
					last.Settings = json.RawMessage(fmt.Sprintf(`{"url":"ldaps://ldap%d.corp.example"}`, i))
					// The suggestion comes with the workflow task that
					// carries the update, which the SDK handles first.
					suggest := func() { s.env.SetContinueAsNewSuggested(tc.suggested) }
					outcomes = append(outcomes, s.update(last, suggest))
				}
			}, time.Minute)
			s.env.ExecuteWorkflow(ConnectionWorkflow, ldapConn)

			s.Require().True(s.env.IsWorkflowCompleted())
			err := s.env.GetWorkflowError()
			var can *workflow.ContinueAsNewError
			s.Require().True(errors.As(err, &can), "want continue-as-new, got %v", err)
			s.Equal("ConnectionWorkflow", can.WorkflowType.Name)
			var next connectors.Connection
			s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
			s.Equal(last, next, "the new run starts from the latest settings")
			for i, u := range outcomes {
				s.True(u.done, "update %d completed", i)
				s.NoError(u.err)
			}
		})
	}
}

// TestConnectionTest: the connection test runs the TestConnection
// activity once, with no retry, and returns its result.
func (s *connectionSuite) TestConnectionTest() {
	tests := []struct {
		name    string
		result  activities.TestResult
		err     error
		wantErr bool
	}{
		{"ok", activities.TestResult{OK: true, Source: true, Target: true}, nil, false},
		{"failed check is a result", activities.TestResult{Stage: "bind", Error: "ldap: invalid credentials"}, nil, false},
		{"activity error is not retried", activities.TestResult{}, errors.New("worker: registry: unknown type"), true},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			s.env.OnActivity(acts.TestConnection, mock.Anything, "corp-ldap").Return(tc.result, tc.err).Once()
			s.env.ExecuteWorkflow(ConnectionTestWorkflow, "corp-ldap")

			s.Require().True(s.env.IsWorkflowCompleted())
			if tc.wantErr {
				s.Error(s.env.GetWorkflowError())
				return
			}
			s.Require().NoError(s.env.GetWorkflowError())
			var got activities.TestResult
			s.Require().NoError(s.env.GetWorkflowResult(&got))
			s.Equal(tc.result, got)
		})
	}
}
