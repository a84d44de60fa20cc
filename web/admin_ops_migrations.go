package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/api"
)

// opsMigrationStates are the states GET /api/migrations filters on.
var opsMigrationStates = []string{"running", "awaiting_confirmation", "awaiting_first_message", "completed", "cancelled", "expired", "failed"}

type opsMigrationsView struct {
	Pickers opsPickers
	State   string
	States  []string
	Items   []api.MigrationResponse
	Error   string
}

// opsMigrationsPage lists the migrations, newest first, optionally in one
// state.
func (s *Server) opsMigrationsPage(c echo.Context) error {
	v := opsMigrationsView{State: c.QueryParam("state"), States: opsMigrationStates}
	var err error
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	q := opsPick(c.QueryParams(), "state", "sourceAccountId").Encode()
	var list api.MigrationList
	status := http.StatusOK
	if err := s.call(c, http.MethodGet, "/api/migrations?"+q, nil, &list); err != nil {
		var perr error
		if status, v.Error, perr = opsPageError(err); perr != nil {
			return perr
		}
	}
	for i := len(list.Items) - 1; i >= 0; i-- {
		v.Items = append(v.Items, list.Items[i])
	}
	return s.render(c, status, "admin/migrations", v)
}

// opsMigrationForm is the start form's fields (the secrets are never sent
// back to the browser).
type opsMigrationForm struct {
	SourceAccountID                                string
	Name, Key, PublicURL, Region, BaseURL, AuthURL string
	ProjectID, AppID, KeyID, Phone                 string
	GenerateWebhookSecret                          bool
	keySecret, webhookSecret                       string
}

type opsMigrationNewView struct {
	Pickers opsPickers
	Form    opsMigrationForm
	Error   string
	// Field is the form field the API's message names (focused, marked
	// invalid).
	Field string
}

// opsMigrationNewPage is the start form.
func (s *Server) opsMigrationNewPage(c echo.Context) error {
	v := opsMigrationNewView{Form: opsMigrationForm{SourceAccountID: c.QueryParam("sourceAccountId"), Region: "eu"}}
	var err error
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, http.StatusOK, "admin/migrations_new", v)
}

// opsMigrationStart starts the migration with POST /api/migrations; on a
// refusal the form comes back with the API's message.
func (s *Server) opsMigrationStart(c echo.Context) error {
	f := opsMigrationForm{SourceAccountID: c.FormValue("sourceAccountId"), Name: c.FormValue("name"), Key: c.FormValue("key"),
		PublicURL: c.FormValue("publicUrl"), Region: c.FormValue("region"), BaseURL: c.FormValue("baseUrl"), AuthURL: c.FormValue("authUrl"),
		ProjectID: c.FormValue("projectId"), AppID: c.FormValue("appId"), KeyID: c.FormValue("keyId"), Phone: c.FormValue("phone"),
		GenerateWebhookSecret: c.FormValue("generateWebhookSecret") == "true",
		keySecret:             c.FormValue("keySecret"), webhookSecret: c.FormValue("webhookSecret")}
	target := map[string]any{}
	for k, val := range map[string]string{"name": f.Name, "key": f.Key, "publicUrl": f.PublicURL, "region": f.Region,
		"baseUrl": f.BaseURL, "authUrl": f.AuthURL, "projectId": f.ProjectID, "appId": f.AppID, "keyId": f.KeyID,
		"phone": f.Phone, "keySecret": f.keySecret, "webhookSecret": f.webhookSecret} {
		if val = strings.TrimSpace(val); val != "" {
			target[k] = val
		}
	}
	if f.GenerateWebhookSecret {
		target["generateWebhookSecret"] = true
		delete(target, "webhookSecret")
	}
	body := map[string]any{"target": target}
	if id, err := strconv.ParseUint(f.SourceAccountID, 10, 64); err == nil {
		body["sourceAccountId"] = id
	}
	var m api.MigrationResponse
	err := s.call(c, http.MethodPost, "/api/migrations", body, &m)
	if err == nil {
		if m.TargetWebhookSecret != "" {
			// Shown this once, as the API does: the page is not a redirect.
			return s.opsRenderMigration(c, http.StatusCreated, m, "", "")
		}
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("%s/admin/migrations/%d?done=started", Prefix, m.ID))
	}
	status, msg, perr := opsPageError(err)
	if perr != nil {
		return perr
	}
	v := opsMigrationNewView{Form: f, Error: msg, Field: opsFieldOf(msg)}
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, status, "admin/migrations_new", v)
}

// opsFieldOf is the form field an API message names ("target.appId: …" is
// appId, "sourceAccountId: …" itself).
func opsFieldOf(msg string) string {
	name, _, ok := strings.Cut(msg, ":")
	if !ok || strings.ContainsAny(name, " \"") {
		return ""
	}
	return strings.TrimPrefix(name, "target.")
}

type opsMigrationView struct {
	Pickers   opsPickers
	Migration api.MigrationResponse
	Final     bool
	CanRetry  bool
	// Poll: the page refreshes the status until the migration ends
	// (reports.js gives the focus back to the button that had it).
	Poll bool
	// Secret is the generated webhook secret, on the start's answer only.
	Secret string
	Done   string
	Error  string
}

// opsMigrationDone are the messages after an action (?done=).
var opsMigrationDone = map[string]string{
	"started": "The migration started: its steps run now.",
	"confirm": "Confirmation sent: the migration now waits for the first customer message on the new account.",
	"cancel":  "Cancel sent: the migration undoes what it did; the source account stays as it was.",
	"retry":   "Retry sent: the failed step runs again.",
}

// opsMigrationPage shows one migration: state, the exact next action, the
// steps, the actions, the link to its workflow.
func (s *Server) opsMigrationPage(c echo.Context) error {
	m, err := s.opsLoadMigration(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.opsRenderMigration(c, http.StatusOK, m, opsMigrationDone[c.QueryParam("done")], "")
}

// opsMigrationStatus is the state, next action and steps alone: the page
// asks for them every 5 seconds while the migration runs.
func (s *Server) opsMigrationStatus(c echo.Context) error {
	m, err := s.opsLoadMigration(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	v := s.opsMigrationViewOf(m)
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	return s.fragment(c, http.StatusOK, "admin/migrations_show", "status", v)
}

// opsMigrationAction confirms, cancels or retries through the API; a
// refusal shows the API's message on the migration's page.
func (s *Server) opsMigrationAction(c echo.Context) error {
	action := c.Param("action")
	if action != "confirm" && action != "cancel" && action != "retry" {
		return s.problem(c, http.StatusNotFound, "not_found", "There is no such action.")
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return s.problem(c, http.StatusNotFound, "not_found", "There is no such migration.")
	}
	err = s.call(c, http.MethodPost, fmt.Sprintf("/api/migrations/%d/%s", id, action), nil, nil)
	if err == nil {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("%s/admin/migrations/%d?done=%s", Prefix, id, action))
	}
	status, msg, perr := opsPageError(err)
	if perr != nil {
		return perr
	}
	m, lerr := s.opsLoadMigration(c)
	if lerr != nil {
		return s.apiProblem(c, err)
	}
	return s.opsRenderMigration(c, status, m, "", msg)
}

func (s *Server) opsLoadMigration(c echo.Context) (api.MigrationResponse, error) {
	var m api.MigrationResponse
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return m, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "There is no such migration."}
	}
	err = s.call(c, http.MethodGet, fmt.Sprintf("/api/migrations/%d", id), nil, &m)
	return m, err
}

func (s *Server) opsMigrationViewOf(m api.MigrationResponse) opsMigrationView {
	v := opsMigrationView{Migration: m}
	switch m.State {
	case "completed", "cancelled", "expired", "failed":
		v.Final = true
	}
	for _, st := range m.Steps {
		if st.Status == "failed" {
			v.CanRetry = !v.Final
		}
	}
	v.Poll = !v.Final
	return v
}

func (s *Server) opsRenderMigration(c echo.Context, status int, m api.MigrationResponse, done, msg string) error {
	v := s.opsMigrationViewOf(m)
	v.Done, v.Error, v.Secret = done, msg, m.TargetWebhookSecret
	var err error
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, status, "admin/migrations_show", v)
}
