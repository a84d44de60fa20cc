package web

import (
	"fmt"
	"github.com/xcally-connector/connector/api"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Overflow is the queue's overflow queue, 0 without one.
func (q cfgQueue) Overflow() uint64 {
	if q.OverflowQueueID == nil {
		return 0
	}
	return *q.OverflowQueueID
}

// cfgQueueForm is the queue form as typed.
type cfgQueueForm struct{ Name, Strategy, Timeout, Overflow string }

func cfgQueueFormOf(q cfgQueue) cfgQueueForm {
	f := cfgQueueForm{Name: q.Name, Strategy: q.Strategy, Timeout: cfgItoa(q.TimeoutSeconds)}
	if q.OverflowQueueID != nil {
		f.Overflow = strconv.FormatUint(*q.OverflowQueueID, 10)
	}
	return f
}

func cfgQueueFormFrom(c echo.Context) cfgQueueForm {
	return cfgQueueForm{Name: strings.TrimSpace(c.FormValue("name")), Strategy: c.FormValue("strategy"),
		Timeout: strings.TrimSpace(c.FormValue("timeoutSeconds")), Overflow: c.FormValue("overflowQueueId")}
}

// body is the API request of the form; on an edit an empty overflow
// removes it (null).
func (f cfgQueueForm) body(create bool) (map[string]any, error) {
	t, err := cfgIntField("timeoutSeconds", "seconds", f.Timeout, 0)
	if err != nil {
		return nil, err
	}
	b := map[string]any{"name": f.Name, "strategy": f.Strategy, "timeoutSeconds": t}
	switch {
	case f.Overflow != "":
		id, err := strconv.ParseUint(f.Overflow, 10, 64)
		if err != nil {
			return nil, &cfgFieldError{fmt.Sprintf("overflowQueueId: %q is not a queue", f.Overflow)}
		}
		b["overflowQueueId"] = id
	case !create:
		b["overflowQueueId"] = nil
	}
	return b, nil
}

type cfgQueuesData struct {
	Queue      cfgQueue
	Queues     []cfgQueue
	Accounts   []api.AccountResponse
	Agents     []api.AgentCreatedResponse
	Form       cfgQueueForm
	Strategies any
	Error      string
	Done       string
}

// cfgQueuesData reads the queues, accounts and agents the queue pages
// name.
func (s *Server) cfgQueuesData(c echo.Context) (cfgQueuesData, error) {
	d := cfgQueuesData{Strategies: cfgStrategies, Done: cfgDoneOf(c), Form: cfgQueueForm{Strategy: "round_robin"}}
	var err error
	if d.Queues, err = s.cfgQueues(c); err != nil {
		return d, err
	}
	if d.Accounts, err = s.cfgAccounts(c); err != nil {
		return d, err
	}
	d.Agents, err = s.cfgAgents(c)
	return d, err
}

func (s *Server) cfgQueuesPage(c echo.Context) error {
	d, err := s.cfgQueuesData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, http.StatusOK, "admin/queues", d)
}

func (s *Server) cfgQueueCreate(c echo.Context) error {
	f := cfgQueueFormFrom(c)
	body, err := f.body(true)
	var q cfgQueue
	if err == nil {
		err = s.call(c, http.MethodPost, "/api/queues", body, &q)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		d, lerr := s.cfgQueuesData(c)
		if lerr != nil {
			return s.apiProblem(c, lerr)
		}
		d.Form, d.Error, d.Done = f, msg, ""
		return s.render(c, cfgFormStatus(err), "admin/queues", d)
	}
	return cfgSeeOther(c, fmt.Sprintf("/queues/%d", q.ID), "created")
}

// cfgQueueData is cfgQueuesData with the route's queue.
func (s *Server) cfgQueueData(c echo.Context) (cfgQueuesData, bool, error) {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return cfgQueuesData{}, false, err
	}
	d, err := s.cfgQueuesData(c)
	if err == nil {
		err = s.call(c, http.MethodGet, fmt.Sprintf("/api/queues/%d", id), nil, &d.Queue)
	}
	if err != nil {
		return d, false, s.apiProblem(c, err)
	}
	d.Form = cfgQueueFormOf(d.Queue)
	return d, true, nil
}

func (s *Server) cfgQueuePage(c echo.Context) error {
	d, ok, err := s.cfgQueueData(c)
	if !ok {
		return err
	}
	return s.render(c, http.StatusOK, "admin/queues_detail", d)
}

func (s *Server) cfgQueueUpdate(c echo.Context) error {
	d, ok, err := s.cfgQueueData(c)
	if !ok {
		return err
	}
	f := cfgQueueFormFrom(c)
	body, err := f.body(false)
	if err == nil {
		err = s.call(c, http.MethodPatch, fmt.Sprintf("/api/queues/%d", d.Queue.ID), body, nil)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		d.Form, d.Error, d.Done = f, msg, ""
		return s.render(c, cfgFormStatus(err), "admin/queues_detail", d)
	}
	return cfgSeeOther(c, fmt.Sprintf("/queues/%d", d.Queue.ID), "saved")
}

func (s *Server) cfgQueueDelete(c echo.Context) error {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.call(c, http.MethodDelete, fmt.Sprintf("/api/queues/%d", id), nil, nil); err != nil {
		return s.apiProblem(c, err)
	}
	return cfgSeeOther(c, "/queues", "deleted")
}

// cfgLink runs PUT (action link) or DELETE (unlink) on the API's link
// route and goes back to back.
func (s *Server) cfgLink(c echo.Context, apiPath, back, on, off string) error {
	method, done := http.MethodPut, on
	switch c.FormValue("action") {
	case "link":
	case "unlink":
		method, done = http.MethodDelete, off
	default:
		return s.problem(c, http.StatusBadRequest, "invalid_action", "The form asked for neither link nor unlink.")
	}
	if err := s.call(c, method, apiPath, nil, nil); err != nil {
		return s.apiProblem(c, err)
	}
	return cfgSeeOther(c, back, done)
}

func (s *Server) cfgQueueLinkAccount(c echo.Context) error {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return err
	}
	other, err := s.cfgPathID(c, "other")
	if err != nil {
		return err
	}
	return s.cfgLink(c, fmt.Sprintf("/api/queues/%d/accounts/%d", id, other), fmt.Sprintf("/queues/%d", id), "linked", "unlinked")
}

func (s *Server) cfgQueueLinkAgent(c echo.Context) error {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return err
	}
	other, err := s.cfgPathID(c, "other")
	if err != nil {
		return err
	}
	return s.cfgLink(c, fmt.Sprintf("/api/queues/%d/agents/%d", id, other), fmt.Sprintf("/queues/%d", id), "linked", "unlinked")
}

// cfgAgentForm is the agent form as typed.
type cfgAgentForm struct{ Name, Capacity string }

func (f cfgAgentForm) body() (map[string]any, error) {
	n, err := cfgIntField("capacity", "interactions at once", f.Capacity, 1)
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": f.Name, "capacity": n}, nil
}

type cfgAgentsData struct {
	Agent    api.AgentCreatedResponse
	Agents   []api.AgentCreatedResponse
	Accounts []api.AccountResponse
	Queues   []cfgQueue
	Form     cfgAgentForm
	// Token is a new or rotated token, shown this once.
	Token string
	Error string
	Done  string
}

func (s *Server) cfgAgentsData(c echo.Context) (cfgAgentsData, error) {
	d := cfgAgentsData{Done: cfgDoneOf(c), Form: cfgAgentForm{Capacity: "1"}}
	var err error
	if d.Agents, err = s.cfgAgents(c); err != nil {
		return d, err
	}
	if d.Accounts, err = s.cfgAccounts(c); err != nil {
		return d, err
	}
	d.Queues, err = s.cfgQueues(c)
	return d, err
}

func (s *Server) cfgAgentsPage(c echo.Context) error {
	d, err := s.cfgAgentsData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, http.StatusOK, "admin/agents", d)
}

func (s *Server) cfgAgentCreate(c echo.Context) error {
	f := cfgAgentForm{Name: strings.TrimSpace(c.FormValue("name")), Capacity: strings.TrimSpace(c.FormValue("capacity"))}
	body, err := f.body()
	var a api.AgentCreatedResponse
	if err == nil {
		err = s.call(c, http.MethodPost, "/api/agents", body, &a)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		d, lerr := s.cfgAgentsData(c)
		if lerr != nil {
			return s.apiProblem(c, lerr)
		}
		d.Form, d.Error, d.Done = f, msg, ""
		return s.render(c, cfgFormStatus(err), "admin/agents", d)
	}
	// The token is in this answer only: the agent's page shows it now.
	d, err := s.cfgAgentsData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	d.Agent, d.Token, d.Done = a, a.Token, cfgDoneMessages["created"]
	d.Form = cfgAgentForm{Name: a.Name, Capacity: strconv.Itoa(a.Capacity)}
	return s.render(c, http.StatusCreated, "admin/agents_detail", d)
}

func (s *Server) cfgAgentData(c echo.Context) (cfgAgentsData, bool, error) {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return cfgAgentsData{}, false, err
	}
	d, err := s.cfgAgentsData(c)
	if err == nil {
		err = s.call(c, http.MethodGet, fmt.Sprintf("/api/agents/%d", id), nil, &d.Agent)
	}
	if err != nil {
		return d, false, s.apiProblem(c, err)
	}
	d.Form = cfgAgentForm{Name: d.Agent.Name, Capacity: strconv.Itoa(d.Agent.Capacity)}
	return d, true, nil
}

func (s *Server) cfgAgentPage(c echo.Context) error {
	d, ok, err := s.cfgAgentData(c)
	if !ok {
		return err
	}
	return s.render(c, http.StatusOK, "admin/agents_detail", d)
}

func (s *Server) cfgAgentUpdate(c echo.Context) error {
	d, ok, err := s.cfgAgentData(c)
	if !ok {
		return err
	}
	f := cfgAgentForm{Name: strings.TrimSpace(c.FormValue("name")), Capacity: strings.TrimSpace(c.FormValue("capacity"))}
	body, err := f.body()
	if err == nil {
		err = s.call(c, http.MethodPatch, fmt.Sprintf("/api/agents/%d", d.Agent.ID), body, nil)
	}
	if err != nil {
		msg, ok := cfgFormMessage(err)
		if !ok {
			return err
		}
		d.Form, d.Error, d.Done = f, msg, ""
		return s.render(c, cfgFormStatus(err), "admin/agents_detail", d)
	}
	return cfgSeeOther(c, fmt.Sprintf("/agents/%d", d.Agent.ID), "saved")
}

func (s *Server) cfgAgentDelete(c echo.Context) error {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.call(c, http.MethodDelete, fmt.Sprintf("/api/agents/%d", id), nil, nil); err != nil {
		return s.apiProblem(c, err)
	}
	return cfgSeeOther(c, "/agents", "deleted")
}

// cfgAgentRotateToken makes a new token (the old one is refused at once)
// and shows it this once.
func (s *Server) cfgAgentRotateToken(c echo.Context) error {
	d, ok, err := s.cfgAgentData(c)
	if !ok {
		return err
	}
	var a api.AgentCreatedResponse
	if err := s.call(c, http.MethodPost, fmt.Sprintf("/api/agents/%d/token", d.Agent.ID), nil, &a); err != nil {
		return s.apiProblem(c, err)
	}
	d.Token, d.Done = a.Token, "A new token was made: the old one no longer works."
	return s.render(c, http.StatusOK, "admin/agents_detail", d)
}

// cfgAgentPermission grants (PUT) or revokes (DELETE) the agent's
// permission on an account.
func (s *Server) cfgAgentPermission(c echo.Context) error {
	id, err := s.cfgPathID(c, "id")
	if err != nil {
		return err
	}
	other, err := s.cfgPathID(c, "other")
	if err != nil {
		return err
	}
	p := fmt.Sprintf("/api/agents/%d/permissions/%d", id, other)
	method, done := http.MethodPut, "granted"
	switch c.FormValue("action") {
	case "grant":
	case "revoke":
		method, done = http.MethodDelete, "revoked"
	default:
		return s.problem(c, http.StatusBadRequest, "invalid_action", "The form asked for neither grant nor revoke.")
	}
	if err := s.call(c, method, p, nil, nil); err != nil {
		return s.apiProblem(c, err)
	}
	return cfgSeeOther(c, fmt.Sprintf("/agents/%d", id), done)
}
