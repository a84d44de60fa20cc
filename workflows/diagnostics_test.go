package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/workflows"
)

type DiagnosticsSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
}

func TestDiagnostics(t *testing.T) { suite.Run(t, new(DiagnosticsSuite)) }

func (s *DiagnosticsSuite) TestReportsTheWorkersDatabase() {
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	want := activities.CheckDatabaseResult{Engine: "postgres", SchemaVersion: "v2", ExpectedSchema: "v2", Latency: time.Millisecond, WorkerIdentity: "w@1"}
	env.OnActivity(a.CheckDatabase, mock.Anything, activities.CheckDatabaseInput{}).Return(want, nil).Once()
	env.ExecuteWorkflow(workflows.DiagnosticsWorkflow, workflows.DiagnosticsInput{})
	s.True(env.IsWorkflowCompleted())
	s.NoError(env.GetWorkflowError())
	var got workflows.DiagnosticsResult
	s.NoError(env.GetWorkflowResult(&got))
	s.Equal(want, got.Database)
}

func (s *DiagnosticsSuite) TestRetriesATransientFailureOnce() {
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	env.OnActivity(a.CheckDatabase, mock.Anything, mock.Anything).Return(activities.CheckDatabaseResult{}, errors.New("connection reset")).Once()
	env.OnActivity(a.CheckDatabase, mock.Anything, mock.Anything).Return(activities.CheckDatabaseResult{Engine: "sqlite"}, nil).Once()
	env.ExecuteWorkflow(workflows.DiagnosticsWorkflow, workflows.DiagnosticsInput{})
	s.NoError(env.GetWorkflowError())
	env.AssertExpectations(s.T())
}

func (s *DiagnosticsSuite) TestSurfacesAnOutdatedSchemaWithoutRetry() {
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	env.OnActivity(a.CheckDatabase, mock.Anything, mock.Anything).Return(activities.CheckDatabaseResult{},
		temporal.NewNonRetryableApplicationError("old schema", activities.ErrTypeSchemaOutdated, nil)).Once()
	env.ExecuteWorkflow(workflows.DiagnosticsWorkflow, workflows.DiagnosticsInput{})
	err := env.GetWorkflowError()
	s.Error(err)
	var appErr *temporal.ApplicationError
	s.ErrorAs(err, &appErr)
	s.Equal(activities.ErrTypeSchemaOutdated, appErr.Type())
	env.AssertExpectations(s.T())
}
