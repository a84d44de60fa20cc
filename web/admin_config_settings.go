package web

import (
	"fmt"
	"github.com/xcally-connector/connector/api"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// The settings document of GET/PUT /api/whatsapp/accounts/{id}/settings.
type (
	cfgSettings struct {
		Dispositions    []string      `json:"dispositions"`
		CannedAnswers   []cfgCanned   `json:"cannedAnswers"`
		TransferOptions *cfgTransfer  `json:"transferOptions"`
		Routing         cfgRouting    `json:"routing"`
		ActionFlow      []cfgFlowStep `json:"actionFlow"`
	}
	cfgCanned struct {
		ID    uint64 `json:"id,omitempty"`
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	// transferOptions' lists: nil allows any, empty none.
	cfgTransfer struct {
		Queues                    []uint64 `json:"queues"`
		Agents                    []uint64 `json:"agents"`
		ReturnToQueueAfterSeconds int      `json:"returnToQueueAfterSeconds"`
	}
	cfgRouting struct {
		Strategy                  string `json:"strategy"`
		AgentNotifyTimeoutSeconds int    `json:"agentNotifyTimeoutSeconds"`
		InactivityTimeoutSeconds  int    `json:"inactivityTimeoutSeconds"`
	}
	cfgFlowStep struct {
		Queue   uint64 `json:"queue,omitempty"`
		Seconds *int   `json:"seconds,omitempty"`
		Reply   string `json:"reply,omitempty"`
	}
)

// settingsForm is the settings form as typed (kept when the API refuses
// it). Rows are numbered; the blank rows at the end add answers and steps.
type cfgSettingsForm struct {
	Dispositions string
	Canned       []cfgCannedRow
	// LimitTransfers off: transferOptions null (any target).
	LimitTransfers         bool
	QueuesMode, AgentsMode string // "any" or "only"
	Queues, Agents         []string
	ReturnAfter            string
	Strategy               string
	NotifyTimeout          string
	InactivityTimeout      string
	Flow                   []cfgFlowRow
}

type cfgCannedRow struct {
	Index           string
	ID, Title, Text string
	Remove          bool
}

type cfgFlowRow struct {
	Index                       string
	Kind, Queue, Seconds, Reply string
}

// blankRows is how many empty rows the form offers (admin.js adds more).
const cfgBlankRows = 2

func cfgItoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func cfgIDStrings(ids []uint64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatUint(id, 10)
	}
	return out
}

func cfgSettingsFormOf(d cfgSettings) cfgSettingsForm {
	f := cfgSettingsForm{Dispositions: strings.Join(d.Dispositions, "\n"), QueuesMode: "any", AgentsMode: "any",
		Strategy: d.Routing.Strategy, NotifyTimeout: cfgItoa(d.Routing.AgentNotifyTimeoutSeconds),
		InactivityTimeout: cfgItoa(d.Routing.InactivityTimeoutSeconds)}
	for _, a := range d.CannedAnswers {
		f.Canned = append(f.Canned, cfgCannedRow{ID: strconv.FormatUint(a.ID, 10), Title: a.Title, Text: a.Text})
	}
	if t := d.TransferOptions; t != nil {
		f.LimitTransfers = true
		if t.Queues != nil {
			f.QueuesMode, f.Queues = "only", cfgIDStrings(t.Queues)
		}
		if t.Agents != nil {
			f.AgentsMode, f.Agents = "only", cfgIDStrings(t.Agents)
		}
		f.ReturnAfter = cfgItoa(t.ReturnToQueueAfterSeconds)
	}
	for _, st := range d.ActionFlow {
		r := cfgFlowRow{Kind: "queue"}
		if st.Reply != "" {
			r.Kind, r.Reply = "reply", st.Reply
		} else {
			r.Queue = strconv.FormatUint(st.Queue, 10)
			if st.Seconds != nil {
				r.Seconds = strconv.Itoa(*st.Seconds)
			}
		}
		f.Flow = append(f.Flow, r)
	}
	return f.withBlanks()
}

// withBlanks numbers the rows and adds the blank ones.
func (f cfgSettingsForm) withBlanks() cfgSettingsForm {
	for range cfgBlankRows {
		f.Canned = append(f.Canned, cfgCannedRow{})
		f.Flow = append(f.Flow, cfgFlowRow{Kind: "queue"})
	}
	for i := range f.Canned {
		f.Canned[i].Index = strconv.Itoa(i)
	}
	for i := range f.Flow {
		f.Flow[i].Index = strconv.Itoa(i)
	}
	return f
}

// rowIndexes are the row numbers of the posted fields named prefix.N.…,
// in order.
func cfgRowIndexes(form url.Values, prefix string) []int {
	seen := map[int]bool{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil && i >= 0 {
			seen[i] = true
		}
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

func cfgSettingsFormFrom(c echo.Context) cfgSettingsForm {
	form, _ := c.FormParams()
	get := func(k string) string { return form.Get(k) }
	f := cfgSettingsForm{Dispositions: get("dispositions"), LimitTransfers: get("limitTransfers") != "",
		QueuesMode: get("transferQueuesMode"), AgentsMode: get("transferAgentsMode"),
		Queues: form["transferQueues"], Agents: form["transferAgents"], ReturnAfter: strings.TrimSpace(get("returnToQueueAfterSeconds")),
		Strategy: get("strategy"), NotifyTimeout: strings.TrimSpace(get("agentNotifyTimeoutSeconds")),
		InactivityTimeout: strings.TrimSpace(get("inactivityTimeoutSeconds"))}
	for _, i := range cfgRowIndexes(form, "ca") {
		p := fmt.Sprintf("ca.%d.", i)
		r := cfgCannedRow{ID: get(p + "id"), Title: get(p + "title"), Text: get(p + "text"), Remove: get(p+"remove") != ""}
		if r.ID == "" && strings.TrimSpace(r.Title) == "" && strings.TrimSpace(r.Text) == "" {
			continue // a blank row
		}
		f.Canned = append(f.Canned, r)
	}
	for _, i := range cfgRowIndexes(form, "flow") {
		p := fmt.Sprintf("flow.%d.", i)
		r := cfgFlowRow{Kind: get(p + "kind"), Queue: get(p + "queue"), Seconds: strings.TrimSpace(get(p + "seconds")), Reply: get(p + "reply")}
		if (r.Kind == "reply" && strings.TrimSpace(r.Reply) == "") || (r.Kind != "reply" && r.Queue == "") {
			continue // a blank row
		}
		f.Flow = append(f.Flow, r)
	}
	return f
}

// doc is the settings document of the form.
func (f cfgSettingsForm) doc() (cfgSettings, error) {
	d := cfgSettings{Dispositions: []string{}, CannedAnswers: []cfgCanned{}, ActionFlow: []cfgFlowStep{}}
	for _, line := range strings.Split(f.Dispositions, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			d.Dispositions = append(d.Dispositions, line)
		}
	}
	for _, r := range f.Canned {
		if r.Remove {
			continue
		}
		a := cfgCanned{Title: r.Title, Text: r.Text}
		if r.ID != "" {
			id, err := strconv.ParseUint(r.ID, 10, 64)
			if err != nil {
				return d, &cfgFieldError{fmt.Sprintf("cannedAnswers: %q is not an answer's id", r.ID)}
			}
			a.ID = id
		}
		d.CannedAnswers = append(d.CannedAnswers, a)
	}
	if f.LimitTransfers {
		t := &cfgTransfer{}
		ids := func(name string, mode string, vals []string) ([]uint64, error) {
			if mode != "only" {
				return nil, nil
			}
			out := []uint64{}
			for _, v := range vals {
				id, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, &cfgFieldError{fmt.Sprintf("transferOptions.%s: %q is not an id", name, v)}
				}
				out = append(out, id)
			}
			return out, nil
		}
		var err error
		if t.Queues, err = ids("queues", f.QueuesMode, f.Queues); err != nil {
			return d, err
		}
		if t.Agents, err = ids("agents", f.AgentsMode, f.Agents); err != nil {
			return d, err
		}
		if t.ReturnToQueueAfterSeconds, err = cfgIntField("transferOptions.returnToQueueAfterSeconds", "seconds", f.ReturnAfter, 0); err != nil {
			return d, err
		}
		d.TransferOptions = t
	}
	d.Routing.Strategy = f.Strategy
	var err error
	if d.Routing.AgentNotifyTimeoutSeconds, err = cfgIntField("routing.agentNotifyTimeoutSeconds", "seconds", f.NotifyTimeout, 0); err != nil {
		return d, err
	}
	if d.Routing.InactivityTimeoutSeconds, err = cfgIntField("routing.inactivityTimeoutSeconds", "seconds", f.InactivityTimeout, 0); err != nil {
		return d, err
	}
	for i, r := range f.Flow {
		if r.Kind == "reply" {
			d.ActionFlow = append(d.ActionFlow, cfgFlowStep{Reply: r.Reply})
			continue
		}
		q, err := strconv.ParseUint(r.Queue, 10, 64)
		if err != nil {
			return d, &cfgFieldError{fmt.Sprintf("actionFlow[%d].queue: choose a queue", i)}
		}
		st := cfgFlowStep{Queue: q}
		if r.Seconds != "" {
			n, err := cfgIntField(fmt.Sprintf("actionFlow[%d].seconds", i), "seconds", r.Seconds, 0)
			if err != nil {
				return d, err
			}
			st.Seconds = &n
		}
		d.ActionFlow = append(d.ActionFlow, st)
	}
	return d, nil
}

type cfgSettingsData struct {
	Tab     string
	Account api.AccountResponse
	Form    cfgSettingsForm
	Queues  []cfgQueue
	Agents  []api.AgentCreatedResponse
	Error   string
	Done    string
}

// settingsData reads what the settings page names: the account, its
// queues and agents to choose from.
func (s *Server) cfgSettingsData(c echo.Context) (cfgSettingsData, bool, error) {
	acc, ok, err := s.cfgLoadAccount(c)
	if !ok {
		return cfgSettingsData{}, false, err
	}
	d := cfgSettingsData{Tab: "settings", Account: acc}
	if d.Queues, err = s.cfgQueues(c); err != nil {
		return d, false, s.apiProblem(c, err)
	}
	if d.Agents, err = s.cfgAgents(c); err != nil {
		return d, false, s.apiProblem(c, err)
	}
	return d, true, nil
}

func (s *Server) cfgSettingsPage(c echo.Context) error {
	d, ok, err := s.cfgSettingsData(c)
	if !ok {
		return err
	}
	var doc cfgSettings
	if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/settings", d.Account.ID), nil, &doc); err != nil {
		return s.apiProblem(c, err)
	}
	d.Form, d.Done = cfgSettingsFormOf(doc), cfgDoneOf(c)
	return s.render(c, http.StatusOK, "admin/settings", d)
}

func (s *Server) cfgSettingsSave(c echo.Context) error {
	d, ok, err := s.cfgSettingsData(c)
	if !ok {
		return err
	}
	f := cfgSettingsFormFrom(c)
	doc, err := f.doc()
	if err == nil {
		err = s.call(c, http.MethodPut, fmt.Sprintf("/api/whatsapp/accounts/%d/settings", d.Account.ID), doc, nil)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		d.Form, d.Error = f.withBlanks(), msg
		return s.render(c, cfgFormStatus(err), "admin/settings", d)
	}
	return cfgSeeOther(c, fmt.Sprintf("/accounts/%d/settings", d.Account.ID), "saved")
}
