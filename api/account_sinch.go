package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinchsetup"
)

// SinchSide reads and sets up the Sinch side of accounts (their app and
// webhook) with each account's key; *activities.Activities is one.
type SinchSide interface {
	InspectSinchApp(ctx context.Context, accountID uint64) (sinchsetup.Report, error)
	SetUpSinchApp(ctx context.Context, in activities.SinchSetupInput) (activities.SinchSetupResult, error)
}

// sinchTimeout bounds the Sinch calls of one request (a setup makes at
// most a handful).
const sinchTimeout = 30 * time.Second

// SinchSetupRequest is the body of POST …/sinch/setup (optional).
type SinchSetupRequest struct {
	// DryRun shows the plan and changes nothing.
	DryRun bool `json:"dryRun"`
	// RemoveStale removes webhooks of the connector that point at another
	// Receive URL.
	RemoveStale bool `json:"removeStale"`
}

// SinchSetupResponse is the Sinch side after the setup (before it, on a
// dry run) and the changes made (planned, on a dry run).
type SinchSetupResponse struct {
	sinchsetup.Report
	Changes []sinchsetup.Change `json:"changes"`
	DryRun  bool                `json:"dryRun"`
	// SecretGenerated: the account had no webhook secret, and one was
	// generated and stored (would be, on a dry run). It is never shown.
	SecretGenerated bool `json:"secretGenerated"`
}

func (s *Server) registerAccountSinchRoutes(e *echo.Echo) {
	e.GET("/api/whatsapp/accounts/:id/sinch", s.accountSinch, s.requireAdmin)
	e.POST("/api/whatsapp/accounts/:id/sinch/setup", s.accountSinchSetup, s.requireAdmin)
}

// accountSinch is GET /api/whatsapp/accounts/{id}/sinch: what Sinch says
// about the account's app, read live with the account's key, and what is
// wrong with it.
func (s *Server) accountSinch(c echo.Context) error {
	id, err := s.sinchAccount(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), sinchTimeout)
	defer cancel()
	r, err := s.deps.SinchSide.InspectSinchApp(ctx, id)
	if err != nil {
		return sinchSideError(id, err)
	}
	return c.JSON(http.StatusOK, r)
}

// accountSinchSetup is POST /api/whatsapp/accounts/{id}/sinch/setup: it
// makes the account's webhook right (created, or patched when triggers
// or secret differ; a secret generated when the account has none) and
// answers the Sinch side after it with the changes. Idempotent.
func (s *Server) accountSinchSetup(c echo.Context) error {
	id, err := s.sinchAccount(c)
	if err != nil {
		return err
	}
	var req SinchSetupRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), sinchTimeout)
	defer cancel()
	res, err := s.deps.SinchSide.SetUpSinchApp(ctx, activities.SinchSetupInput{AccountID: id, DryRun: req.DryRun, RemoveStale: req.RemoveStale})
	if err != nil {
		return sinchSideError(id, err)
	}
	changes := res.Changes
	if changes == nil {
		changes = []sinchsetup.Change{}
	}
	s.log.InfoContext(c.Request().Context(), "Sinch setup", "account_id", id, "dry_run", req.DryRun, "changes", len(changes), "request_id", requestID(c))
	return c.JSON(http.StatusOK, SinchSetupResponse{Report: res.Report, Changes: changes, DryRun: res.DryRun, SecretGenerated: res.SecretGenerated})
}

// sinchAccount parses the path's account and checks it exists and that
// this API can reach Sinch.
func (s *Server) sinchAccount(c echo.Context) (uint64, error) {
	id, err := parseID(c, "id")
	if err != nil {
		return 0, err
	}
	if _, err := loadAccount(s.deps.DB.WithContext(c.Request().Context()), id); err != nil {
		return 0, err
	}
	if s.deps.SinchSide == nil {
		return 0, errUnavailable("sinch_not_configured", "this API process cannot reach Sinch (no Sinch client configured)", nil)
	}
	return id, nil
}

// sinchSideError names what failed: Sinch's refusal with its status and
// message (502 sinch_refused), Sinch unreachable (502 sinch_unreachable,
// 504 sinch_timeout), a request the connector refused to send because
// Sinch would refuse it (422 sinch_request_invalid: a Receive URL past
// Sinch's 742 characters), or the account's own setup.
func sinchSideError(accountID uint64, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusGatewayTimeout, Code: "sinch_timeout", Message: "Sinch did not answer in time; retry later", Err: err}
	}
	msg := fmt.Sprintf("account %d: %v", accountID, err)
	apiErr, isAPI := sinch.AsAPIError(err)
	var se *activities.SinchSetupError
	if errors.As(err, &se) {
		msg = se.Error()
		if len(se.Done) > 0 {
			var done []string
			for _, d := range se.Done {
				done = append(done, strings.ReplaceAll(d.Action, "_", " ")+" "+d.Target)
			}
			msg += "; done before it: " + strings.Join(done, ", ")
		}
	} else if isAPI {
		msg = fmt.Sprintf("Sinch refused the %s request of account %d: HTTP %d %s: %s", apiErr.Op, accountID, apiErr.HTTPStatus, apiErr.Status, apiErr.Message)
	}
	switch {
	case !isAPI:
		return &Error{Status: http.StatusBadGateway, Code: "sinch_setup_failed", Message: msg, Err: err}
	case apiErr.HTTPStatus == 0 && apiErr.Status == "INVALID_ARGUMENT":
		return &Error{Status: http.StatusUnprocessableEntity, Code: "sinch_request_invalid",
			Message: fmt.Sprintf("account %d: not sent to Sinch, which would refuse it: %s", accountID, apiErr.Message), Err: err}
	case apiErr.HTTPStatus == 0 && se != nil:
		return &Error{Status: http.StatusBadGateway, Code: "sinch_unreachable", Message: "cannot reach Sinch: " + msg, Err: err}
	case apiErr.HTTPStatus == 0:
		return &Error{Status: http.StatusBadGateway, Code: "sinch_unreachable",
			Message: fmt.Sprintf("cannot reach Sinch for account %d: %s", accountID, apiErr.Message), Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Code: "sinch_refused", Message: msg, Err: err}
}
