package web

import (
	"fmt"
	"github.com/xcally-connector/connector/api"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// accountForm is the account form's values as typed, shown again with
// the API's message when it refuses them. The secrets are never kept:
// they are typed again.
type cfgAccountForm struct {
	Name, Key, List, PublicURL, Region, BaseURL, AuthURL, ProjectID, AppID, KeyID string
	Phone, Description, NotificationTemplate, SendRate                            string
	Channels                                                                      []string
	Debug, AllowUnsigned, GenerateSecret, ClearWebhookSecret                      bool
	// KeySecretSet and WebhookSecretSet say whether the account has them.
	KeySecretSet, WebhookSecretSet bool
}

func cfgAccountFormOf(a api.AccountResponse) cfgAccountForm {
	rate := ""
	if a.SendRatePerSecond != 0 {
		rate = strconv.FormatFloat(a.SendRatePerSecond, 'f', -1, 64)
	}
	return cfgAccountForm{Name: a.Name, Key: a.Key, List: a.List, PublicURL: a.PublicURL, Region: a.Region, BaseURL: a.BaseURL,
		AuthURL: a.AuthURL, ProjectID: a.ProjectID, AppID: a.AppID, KeyID: a.KeyID, Phone: a.Phone, Description: a.Description,
		NotificationTemplate: a.NotificationTemplate, SendRate: rate, Channels: a.Channels, Debug: a.Debug,
		AllowUnsigned: a.AllowUnsignedWebhooks, KeySecretSet: a.KeySecretSet, WebhookSecretSet: a.WebhookSecretSet}
}

// accountFormFrom reads the posted form; the secrets are returned apart.
func cfgAccountFormFrom(c echo.Context) (f cfgAccountForm, keySecret, webhookSecret string) {
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f = cfgAccountForm{Name: v("name"), Key: v("key"), List: v("list"), PublicURL: v("publicUrl"), Region: v("region"),
		BaseURL: v("baseUrl"), AuthURL: v("authUrl"), ProjectID: v("projectId"), AppID: v("appId"), KeyID: v("keyId"),
		Phone: v("phone"), Description: c.FormValue("description"), NotificationTemplate: c.FormValue("notificationTemplate"),
		SendRate: v("sendRatePerSecond"), Debug: c.FormValue("debug") != "", AllowUnsigned: c.FormValue("allowUnsignedWebhooks") != "",
		GenerateSecret: c.FormValue("generateWebhookSecret") != "", ClearWebhookSecret: c.FormValue("clearWebhookSecret") != ""}
	if form, err := c.FormParams(); err == nil {
		f.Channels = form["channels"]
	}
	if f.Channels == nil {
		f.Channels = []string{}
	}
	return f, c.FormValue("keySecret"), c.FormValue("webhookSecret")
}

// body is the API request of the form: on create the empty optional
// fields are left to their defaults; on an edit every field is sent (an
// empty baseUrl clears it) but an empty secret, which stays as it is.
func (f cfgAccountForm) body(create bool, keySecret, webhookSecret string) (map[string]any, error) {
	b := map[string]any{"name": f.Name, "key": f.Key, "publicUrl": f.PublicURL, "region": f.Region,
		"projectId": f.ProjectID, "appId": f.AppID, "keyId": f.KeyID, "phone": f.Phone, "channels": f.Channels,
		"debug": f.Debug, "allowUnsignedWebhooks": f.AllowUnsigned}
	for k, v := range map[string]string{"list": f.List, "baseUrl": f.BaseURL, "authUrl": f.AuthURL,
		"description": f.Description, "notificationTemplate": f.NotificationTemplate} {
		if v != "" || !create {
			b[k] = v
		}
	}
	if f.SendRate != "" {
		r, err := strconv.ParseFloat(f.SendRate, 64)
		if err != nil {
			return nil, &cfgFieldError{fmt.Sprintf("sendRatePerSecond: %q is not a number", f.SendRate)}
		}
		b["sendRatePerSecond"] = r
	} else if !create {
		b["sendRatePerSecond"] = 0
	}
	if keySecret != "" {
		b["keySecret"] = keySecret
	}
	switch {
	case webhookSecret != "":
		b["webhookSecret"] = webhookSecret
	case f.ClearWebhookSecret && !create:
		b["webhookSecret"] = ""
	}
	if f.GenerateSecret {
		b["generateWebhookSecret"] = true
	}
	return b, nil
}

// accountData is what the account pages show.
type cfgAccountData struct {
	// Tab is the part shown: new, overview, diagnostics, sinch, reconcile,
	// settings.
	Tab     string
	Account api.AccountResponse
	Form    cfgAccountForm
	Error   string
	Done    string
	// NewSecret is a generated webhook secret, shown this once.
	NewSecret string
	Regions   []string
	Channels  []string

	Diagnostics *api.AccountDiagnosticsResponse
	Sinch       *cfgSinch
	Reconcile   *api.ReconcileResponse
	RecFrom     string
	RecTo       string
}

// cfgSinch is the Sinch side of an account as the API reports it, and
// whether it is the answer of a setup (which lists its changes).
type cfgSinch struct {
	api.SinchSetupResponse
	Setup bool
}

var (
	cfgRegions  = []string{"eu", "us", "br"}
	cfgChannels = []string{"WHATSAPP", "INSTAGRAM"}
)

func (s *Server) cfgAccountsPage(c echo.Context) error {
	list, err := s.cfgAccounts(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, http.StatusOK, "admin/accounts", map[string]any{"Accounts": list, "Done": cfgDoneOf(c)})
}

func (s *Server) cfgAccountNewPage(c echo.Context) error {
	f := cfgAccountForm{Region: "eu", Channels: []string{"WHATSAPP"}, GenerateSecret: true}
	return s.render(c, http.StatusOK, "admin/accounts_detail", cfgAccountData{Tab: "new", Form: f, Regions: cfgRegions, Channels: cfgChannels})
}

func (s *Server) cfgAccountCreate(c echo.Context) error {
	f, ks, ws := cfgAccountFormFrom(c)
	data := cfgAccountData{Tab: "new", Form: f, Regions: cfgRegions, Channels: cfgChannels}
	body, err := f.body(true, ks, ws)
	var acc api.AccountResponse
	if err == nil {
		err = s.call(c, http.MethodPost, "/api/whatsapp/accounts", body, &acc)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		data.Error = msg
		return s.render(c, cfgFormStatus(err), "admin/accounts_detail", data)
	}
	if acc.WebhookSecret != "" {
		// The generated secret is in this answer only: the page shows it
		// now rather than after a redirect.
		return s.render(c, http.StatusCreated, "admin/accounts_detail", cfgAccountData{Tab: "overview", Account: acc,
			Form: cfgAccountFormOf(acc), NewSecret: acc.WebhookSecret, Done: cfgDoneMessages["created"], Regions: cfgRegions, Channels: cfgChannels})
	}
	return cfgSeeOther(c, fmt.Sprintf("/accounts/%d", acc.ID), "created")
}

// account reads the account of the route; a failure is answered.
func (s *Server) cfgLoadAccount(c echo.Context) (api.AccountResponse, bool, error) {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return api.AccountResponse{}, false, err
	}
	var acc api.AccountResponse
	if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", id), nil, &acc); err != nil {
		return acc, false, s.apiProblem(c, err)
	}
	return acc, true, nil
}

func (s *Server) cfgAccountPage(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	return s.render(c, http.StatusOK, "admin/accounts_detail", cfgAccountData{Tab: "overview", Account: acc, Form: cfgAccountFormOf(acc),
		Done: cfgDoneOf(c), Regions: cfgRegions, Channels: cfgChannels})
}

func (s *Server) cfgAccountUpdate(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	f, ks, ws := cfgAccountFormFrom(c)
	f.KeySecretSet, f.WebhookSecretSet = acc.KeySecretSet, acc.WebhookSecretSet
	body, err := f.body(false, ks, ws)
	if err == nil && strings.ReplaceAll(f.NotificationTemplate, "\r\n", "\n") == acc.NotificationTemplate {
		// Unchanged: not sent (the API stores the default template in
		// place of an empty one, so the field always holds a template).
		delete(body, "notificationTemplate")
	}
	var out api.AccountResponse
	if err == nil {
		err = s.call(c, http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID), body, &out)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		return s.render(c, cfgFormStatus(err), "admin/accounts_detail", cfgAccountData{Tab: "overview", Account: acc, Form: f, Error: msg,
			Regions: cfgRegions, Channels: cfgChannels})
	}
	if out.WebhookSecret != "" {
		return s.render(c, http.StatusOK, "admin/accounts_detail", cfgAccountData{Tab: "overview", Account: out, Form: cfgAccountFormOf(out),
			NewSecret: out.WebhookSecret, Done: cfgDoneMessages["saved"], Regions: cfgRegions, Channels: cfgChannels})
	}
	return cfgSeeOther(c, fmt.Sprintf("/accounts/%d", acc.ID), "saved")
}

func (s *Server) cfgAccountDelete(c echo.Context) error {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.call(c, http.MethodDelete, fmt.Sprintf("/api/whatsapp/accounts/%d", id), nil, nil); err != nil {
		return s.apiProblem(c, err)
	}
	return cfgSeeOther(c, "/accounts", "deleted")
}

// accountDiagnosticsPage runs the account's checks (GET …/diagnostics).
func (s *Server) cfgDiagnosticsPage(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	data := cfgAccountData{Tab: "diagnostics", Account: acc}
	var d api.AccountDiagnosticsResponse
	if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/diagnostics", acc.ID), nil, &d); err != nil {
		msg, ok := cfgErrMessage(err)
		if !ok {
			return err
		}
		data.Error = msg
		return s.render(c, cfgFormStatus(err), "admin/accounts_detail", data)
	}
	data.Diagnostics = &d
	return s.render(c, http.StatusOK, "admin/accounts_detail", data)
}

// accountSinchPage reads the Sinch side live (GET …/sinch).
func (s *Server) cfgSinchPage(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	data := cfgAccountData{Tab: "sinch", Account: acc, Done: cfgDoneOf(c)}
	var r cfgSinch
	if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/sinch", acc.ID), nil, &r); err != nil {
		msg, ok := cfgErrMessage(err)
		if !ok {
			return err
		}
		data.Error = msg
		return s.render(c, http.StatusOK, "admin/accounts_detail", data)
	}
	data.Sinch = &r
	return s.render(c, http.StatusOK, "admin/accounts_detail", data)
}

// accountSinchSetup sets up (or, on a dry run, plans) the account's
// webhook and shows what was done.
func (s *Server) cfgSinchSetup(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	data := cfgAccountData{Tab: "sinch", Account: acc}
	in := map[string]bool{"dryRun": c.FormValue("dryRun") != "", "removeStale": c.FormValue("removeStale") != ""}
	var r cfgSinch
	if err := s.call(c, http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/sinch/setup", acc.ID), in, &r); err != nil {
		msg, ok := cfgErrMessage(err)
		if !ok {
			return err
		}
		data.Error = msg
		return s.render(c, cfgFormStatus(err), "admin/accounts_detail", data)
	}
	r.Setup = true
	data.Sinch = &r
	return s.render(c, http.StatusOK, "admin/accounts_detail", data)
}

// localInput is the format of a datetime-local field, read as UTC.
const cfgLocalInput = "2006-01-02T15:04"

func cfgParseUTC(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339, cfgLocalInput, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// accountReconcilePage is the form and, with ?rid=, that
// reconciliation's status; an htmx request gets the status alone (it
// polls while the reconciliation runs).
func (s *Server) cfgReconcilePage(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	now := s.deps.Now().UTC()
	data := cfgAccountData{Tab: "reconcile", Account: acc, Done: cfgDoneOf(c),
		RecFrom: now.Add(-24 * time.Hour).Format(cfgLocalInput), RecTo: now.Format(cfgLocalInput)}
	if rid := c.QueryParam("rid"); rid != "" {
		var r api.ReconcileResponse
		if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile/%s", acc.ID, url.PathEscape(rid)), nil, &r); err != nil {
			msg, ok := cfgErrMessage(err)
			if !ok {
				return err
			}
			data.Error = msg
		} else {
			data.Reconcile = &r
		}
	}
	if c.Request().Header.Get("HX-Request") != "" && data.Reconcile != nil {
		return s.fragment(c, http.StatusOK, "admin/accounts_detail", "reconcile-status", data)
	}
	return s.render(c, http.StatusOK, "admin/accounts_detail", data)
}

func (s *Server) cfgReconcileStart(c echo.Context) error {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return err
	}
	data := cfgAccountData{Tab: "reconcile", Account: acc, RecFrom: c.FormValue("from"), RecTo: c.FormValue("to")}
	in := map[string]string{}
	from, okFrom := cfgParseUTC(data.RecFrom)
	if !okFrom {
		data.Error = "from: enter the start of the range (UTC)."
		return s.render(c, http.StatusBadRequest, "admin/accounts_detail", data)
	}
	in["from"] = from.Format(time.RFC3339)
	if strings.TrimSpace(data.RecTo) != "" {
		to, okTo := cfgParseUTC(data.RecTo)
		if !okTo {
			data.Error = "to: not a date and time (UTC)."
			return s.render(c, http.StatusBadRequest, "admin/accounts_detail", data)
		}
		in["to"] = to.Format(time.RFC3339)
	}
	var r api.ReconcileResponse
	if err := s.call(c, http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile", acc.ID), in, &r); err != nil {
		msg, ok := cfgErrMessage(err)
		if !ok {
			return err
		}
		data.Error = msg
		return s.render(c, cfgFormStatus(err), "admin/accounts_detail", data)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("%s/admin/accounts/%d/reconcile?rid=%s&done=started", Prefix, acc.ID, url.QueryEscape(r.ID)))
}
