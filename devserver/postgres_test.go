package devserver_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/models/testdb"
)

// member starts one engine process of the cluster on dbURL.
func member(t *testing.T, dbURL, clusterAddr string, services ...string) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{
		FrontendAddr: "127.0.0.1:0", Namespace: "test-ns", SearchAttributes: attrs,
		DatabaseURL: dbURL, MaxConns: 3, Services: services, ClusterAddr: clusterAddr,
	})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

func echoWorkflow(ctx workflow.Context, in string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, upper, in).Get(ctx, &out)
	return out, err
}

func upper(_ context.Context, in string) (string, error) { return strings.ToUpper(in), nil }

// runWorkflows runs n workflows started through c, with a worker polling
// through w, and checks every result.
func runWorkflows(t *testing.T, c, w client.Client, prefix string, n int) {
	t.Helper()
	wk := worker.New(w, "q-"+prefix, worker.Options{})
	wk.RegisterWorkflow(echoWorkflow)
	wk.RegisterActivity(upper)
	require.NoError(t, wk.Start())
	defer wk.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	runs := make([]client.WorkflowRun, n)
	for i := range runs {
		var err error
		runs[i], err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", prefix, i), TaskQueue: "q-" + prefix}, echoWorkflow, fmt.Sprintf("m%d", i))
		require.NoError(t, err)
	}
	for i, run := range runs {
		var out string
		require.NoError(t, run.Get(ctx, &out), "workflow %d", i)
		assert.Equal(t, fmt.Sprintf("M%d", i), out)
	}
}

func dialNS(t *testing.T, addr string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "test-ns"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestPostgresClusterOfTwoProcesses: the engine creates Temporal's two
// databases and schemas on an empty Postgres server, a second process on
// the same database joins the same cluster (membership through the
// database), workflows started through one frontend run on a worker
// polling the other, and the cluster goes on when the first process stops.
func TestPostgresClusterOfTwoProcesses(t *testing.T) {
	dbURL := testdb.TemporalDatabaseURL(t)
	a := member(t, dbURL, "")
	b := member(t, dbURL, a.FrontendAddr())

	wantMain, wantVis := devserver.SchemaVersions()
	assert.Equal(t, wantMain, schemaVersion(t, dbURL, ""), "main schema at the version the server needs")
	assert.Equal(t, wantVis, schemaVersion(t, dbURL, "_visibility"), "visibility schema at the version the server needs")
	assert.Equal(t, 8, liveMembers(t, dbURL), "4 services × 2 processes heartbeat in cluster_membership")

	ca, cb := dialNS(t, a.FrontendAddr()), dialNS(t, b.FrontendAddr())
	sa, err := cb.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: "test-ns"})
	require.NoError(t, err)
	assert.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, sa.GetCustomAttributes()["AccountId"], "search attributes seen through the second process")

	runWorkflows(t, cb, ca, "across", 20)

	a.Stop()
	runWorkflows(t, cb, cb, "after-stop", 10)
}

// TestPostgresServicesSplitAcrossProcesses: one process runs the frontend
// and history, the other matching and the system worker; together they
// are a working engine.
func TestPostgresServicesSplitAcrossProcesses(t *testing.T) {
	dbURL := testdb.TemporalDatabaseURL(t)
	// The system worker calls the frontend at its start: the process with
	// the frontend starts first.
	front := member(t, dbURL, "127.0.0.1:1", "frontend", "history")
	back := member(t, dbURL, "127.0.0.1:1", "matching", "worker")
	assert.Empty(t, back.FrontendAddr(), "no frontend in this process")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, front.WaitReady(ctx), "the namespace is set up once the cluster is complete")
	c := dialNS(t, front.FrontendAddr())
	runWorkflows(t, c, c, "split", 10)
}

func TestPostgresRefusesBadSettings(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts devserver.Options
		want string
	}{
		{"no database in the URL", devserver.Options{DatabaseURL: "postgres://u@127.0.0.1:5432/"}, "name the database"},
		{"visibility equals main", devserver.Options{DatabaseURL: "postgres://u@127.0.0.1:5432/t", VisibilityDatabase: "t"}, "must differ"},
		{"membership port out of range", devserver.Options{DatabaseURL: "postgres://u@127.0.0.1:5432/t", FrontendAddr: "127.0.0.1:40000"}, "membership ports"},
		{"unknown service", devserver.Options{DatabaseURL: "postgres://u@127.0.0.1:5432/t", Services: []string{"histroy"}}, `unknown service "histroy"`},
		{"some services on SQLite", devserver.Options{Services: []string{"history"}}, "needs a Postgres database"},
		{"TLS on SQLite", devserver.Options{TLS: &devserver.TLS{CertFile: "c", KeyFile: "k"}}, "TLS needs the Postgres engine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Namespace = "x"
			if tc.opts.FrontendAddr == "" {
				tc.opts.FrontendAddr = "127.0.0.1:0"
			}
			_, err := devserver.Start(ctx, tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func schemaVersion(t *testing.T, dbURL, suffix string) string {
	t.Helper()
	conn := connect(t, dbURL, suffix)
	var v string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT curr_version FROM schema_version WHERE version_partition = 0`).Scan(&v))
	return v
}

func liveMembers(t *testing.T, dbURL string) int {
	t.Helper()
	conn := connect(t, dbURL, "")
	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT count(DISTINCT (rpc_address, rpc_port)) FROM cluster_membership WHERE last_heartbeat > now() - interval '30 seconds'`).Scan(&n))
	return n
}

func connect(t *testing.T, dbURL, suffix string) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Path += suffix
	conn, err := pgx.Connect(context.Background(), u.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
