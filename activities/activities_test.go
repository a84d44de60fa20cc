package activities_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

func TestCheckDatabase(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			db := testdb.Open(t, engine)
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			acts := &activities.Activities{DB: db, Identity: "test@1"}
			env.RegisterActivity(acts)

			val, err := env.ExecuteActivity(acts.CheckDatabase, activities.CheckDatabaseInput{})
			require.NoError(t, err)
			var res activities.CheckDatabaseResult
			require.NoError(t, val.Get(&res))
			assert.Equal(t, string(engine), res.Engine)
			assert.Equal(t, models.LatestMigration(), res.SchemaVersion)
			assert.Equal(t, "test@1", res.WorkerIdentity)

			// A schema behind the binary is a permanent, typed error.
			require.NoError(t, db.Exec("DELETE FROM schema_migrations").Error)
			require.NoError(t, db.Exec("INSERT INTO schema_migrations (id) VALUES ('0000_older')").Error)
			_, err = env.ExecuteActivity(acts.CheckDatabase, activities.CheckDatabaseInput{})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "got %v", err)
			assert.Equal(t, activities.ErrTypeSchemaOutdated, appErr.Type())
			assert.True(t, appErr.NonRetryable())
		})
	}
}
