package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/models"
)

// HealthResponse is the body of /healthz and /readyz.
type HealthResponse struct {
	Status string `json:"status"`
	// Checks maps each dependency to "ok" or "unavailable"; why it failed
	// is in the log, not in this unauthenticated answer.
	Checks map[string]string `json:"checks,omitempty"`
	// Failing names the dependencies that failed, for a quick read.
	Failing []string `json:"failing,omitempty"`
}

// healthz answers 200 while the process serves HTTP at all.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, HealthResponse{Status: "ok"})
}

// readyz checks the database and Temporal concurrently and answers 503
// naming every failing dependency. The errors themselves (addresses, driver
// messages) go to the log only: /readyz answers anyone.
func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	type result struct {
		name string
		err  error
	}
	checks := map[string]func(context.Context) error{
		"database": func(ctx context.Context) error { return models.Ping(ctx, s.deps.DB) },
		"temporal": func(ctx context.Context) error {
			_, err := s.deps.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
	}
	out := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, s.deps.ReadyTimeout)
			defer cancel()
			out <- result{name, check(cctx)}
		}()
	}
	resp := HealthResponse{Status: "ok", Checks: map[string]string{}}
	for range checks {
		r := <-out
		if r.err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "component", r.name, "err", r.err)
			resp.Checks[r.name] = "unavailable"
			resp.Failing = append(resp.Failing, r.name)
		} else {
			resp.Checks[r.name] = "ok"
		}
	}
	if len(resp.Failing) > 0 {
		slices.Sort(resp.Failing)
		resp.Status = "unavailable"
		c.Response().Header().Set("Retry-After", "5")
		return c.JSON(http.StatusServiceUnavailable, resp)
	}
	return c.JSON(http.StatusOK, resp)
}

// DiagnosticsResponse reports a worker-side check run through Temporal.
type DiagnosticsResponse struct {
	WorkflowID     string    `json:"workflowId"`
	Engine         string    `json:"databaseEngine"`
	SchemaVersion  string    `json:"schemaVersion"`
	ExpectedSchema string    `json:"expectedSchema"`
	DBLatencyMs    float64   `json:"databaseLatencyMs"`
	WorkerIdentity string    `json:"workerIdentity"`
	CheckedAt      time.Time `json:"checkedAt"`
	RoundTripMs    float64   `json:"roundTripMs"`
}
