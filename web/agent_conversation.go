package web

import (
	"errors"
	"fmt"
	"github.com/xcally-connector/connector/api"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/internal/principal"
)

// agentConvView is a conversation page's data.
type agentConvView struct {
	It agentRow
	// Messages in Sinch order.
	Messages []api.MessageResponse
	// Mine: assigned to this agent (it may reply, close, transfer).
	Mine bool
	// WindowOpen: the customer service window is open.
	WindowOpen bool
	Canned     []api.CannedAnswerView
	// Options: the dispositions and transfer targets (Mine only); Agents
	// are the transfer's agents other than this one.
	Options api.InteractionOptions
	Agents  []api.NamedTarget
	// OptionsError is the API's refusal of the options.
	OptionsError string
	// Error is the API's refusal of the last action, shown by the form.
	Error string
}

// CanTransfer: the account allows a transfer somewhere.
func (v agentConvView) CanTransfer() bool {
	return len(v.Options.Transfer.Queues) > 0 || len(v.Agents) > 0
}

func (s *Server) agentConvData(c echo.Context) (agentConvView, error) {
	id, ok := agentInteractionID(c)
	if !ok {
		return agentConvView{}, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "No such conversation."}
	}
	var it api.InteractionResponse
	if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/interactions/%d", id), nil, &it); err != nil {
		return agentConvView{}, err
	}
	v := agentConvView{Messages: it.Messages}
	v.It = agentRowOf(api.InboxItem{Interaction: it, WindowEndsAt: it.WindowEndsAt})
	me := sessionOf(c).AgentID
	v.Mine = it.Status != "closed" && it.AgentID != nil && *it.AgentID == me
	v.It.Offered = it.Status == "queued" || (v.Mine && it.AcceptBy != nil)
	v.WindowOpen = !v.It.WindowEnd.IsZero() && s.deps.Now().Before(v.It.WindowEnd)
	return v, nil
}

// agentMarkRead moves the agent's read mark to the newest message the page
// shows (not past it: a message that arrived since stays unread), unless
// the browser says the page is not in view. A refusal (the conversation
// left the agent's reach) changes nothing on the page.
func (s *Server) agentMarkRead(c echo.Context, v agentConvView) error {
	if c.QueryParam("unseen") == "1" || c.FormValue("unseen") == "1" {
		return nil
	}
	var last uint64
	for _, m := range v.Messages {
		last = max(last, m.ID)
	}
	if last == 0 {
		return nil
	}
	err := s.call(c, http.MethodPost, fmt.Sprintf("/api/interactions/%d/read", v.It.ID), map[string]uint64{"messageId": last}, nil)
	var ae *apiError
	if err != nil && errors.As(err, &ae) {
		log := s.deps.Logger.Debug
		if ae.Status >= 500 {
			log = s.deps.Logger.Warn
		}
		log("console: read mark not moved", "interaction", v.It.ID, "status", ae.Status, "code", ae.Code)
		return nil
	}
	return err
}

func (s *Server) agentConversation(c echo.Context) error {
	v, err := s.agentConvData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	if err := s.agentMarkRead(c, v); err != nil {
		return err
	}
	// The account's name: the agent is permitted on it to see it.
	v.It.AccountName = s.agentAccountNamesOf(c)[v.It.AccountID]
	if v.Mine {
		// The picker's answers and the close and transfer choices; an
		// account the agent no longer reaches has none to offer.
		if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/canned-answers", v.It.AccountID), nil, &v.Canned); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				return err
			}
			v.Canned = nil
		}
		if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/interactions/%d/options", v.It.ID), nil, &v.Options); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				return err
			}
			v.Options, v.OptionsError = api.InteractionOptions{}, ae.Message
		}
		me := sessionOf(c).AgentID
		for _, a := range v.Options.Transfer.Agents {
			if a.ID != me {
				v.Agents = append(v.Agents, a)
			}
		}
	}
	return s.render(c, http.StatusOK, "agent/conversation", v)
}

// agentThread is the messages and the window (htmx, on each event); the
// messages shown are read.
func (s *Server) agentThread(c echo.Context) error {
	v, err := s.agentConvData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	if err := s.agentMarkRead(c, v); err != nil {
		return err
	}
	return s.fragment(c, http.StatusOK, "agent/conversation", "thread", v)
}

// agentActionAnswer answers a conversation's form: the thread again (htmx),
// or the API's refusal in the form's error area; a plain form goes back
// to the page.
func (s *Server) agentActionAnswer(c echo.Context, callErr error, keep agentConvView, to string) error {
	var ae *apiError
	if callErr != nil && !errors.As(callErr, &ae) {
		return callErr
	}
	id, _ := agentInteractionID(c)
	if c.Request().Header.Get("HX-Request") == "" {
		if ae != nil {
			return s.apiProblem(c, ae)
		}
		if to == "" {
			to = fmt.Sprintf("%s/agent/conversations/%d", Prefix, id)
		}
		return c.Redirect(http.StatusSeeOther, to)
	}
	if ae != nil {
		c.Response().Header().Set("HX-Retarget", "#action-error")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		return s.fragment(c, ae.Status, "agent/conversation", "action-error", agentConvView{Error: ae.Message})
	}
	if to != "" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	// A success reloads the page's parts that changed: the whole page.
	c.Response().Header().Set("HX-Refresh", "true")
	return c.NoContent(http.StatusNoContent)
}

// agentReply sends the reply box: a canned answer by id, a file (with an
// optional text), or a text.
func (s *Server) agentReply(c echo.Context) error {
	id, ok := agentInteractionID(c)
	if !ok {
		return s.problem(c, http.StatusNotFound, "not_found", "No such conversation.")
	}
	path := fmt.Sprintf("/api/interactions/%d/messages", id)
	text := c.FormValue("text")
	var err error
	switch fh, ferr := c.FormFile("file"); {
	case ferr == nil && fh != nil && fh.Size > 0:
		err = s.agentPostFile(c, path, fh, text)
	case c.FormValue("cannedAnswerId") != "":
		cid, perr := strconv.ParseUint(c.FormValue("cannedAnswerId"), 10, 64)
		if perr != nil {
			return s.problem(c, http.StatusBadRequest, "invalid_canned_answer", "Choose a canned answer from the list.")
		}
		err = s.call(c, http.MethodPost, path, map[string]uint64{"cannedAnswerId": cid}, nil)
	default:
		err = s.call(c, http.MethodPost, path, map[string]string{"text": text}, nil)
	}
	var ae *apiError
	if err != nil && !errors.As(err, &ae) {
		return err
	}
	if c.Request().Header.Get("HX-Request") == "" {
		if ae != nil {
			return s.apiProblem(c, ae)
		}
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("%s/agent/conversations/%d", Prefix, id))
	}
	if ae != nil {
		c.Response().Header().Set("HX-Retarget", "#reply-error")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		return s.fragment(c, ae.Status, "agent/conversation", "action-error", agentConvView{Error: ae.Message})
	}
	// Sent: the thread with the new message (its tick then moves with
	// message.status events); the script clears the box.
	c.Response().Header().Set("HX-Trigger", "agent-sent")
	v, err := s.agentConvData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	if err := s.agentMarkRead(c, v); err != nil {
		return err
	}
	c.Response().Header().Set("HX-Retarget", "#thread")
	c.Response().Header().Set("HX-Reswap", "outerHTML")
	return s.fragment(c, http.StatusOK, "agent/conversation", "thread", v)
}

// agentPostFile sends the uploaded file to the API as multipart/form-data (the
// API sniffs it and checks it against WhatsApp's rules). The body is
// streamed through a pipe, never held whole in memory (files go up to
// MEDIA_MAX_BYTES).
func (s *Server) agentPostFile(c echo.Context, path string, fh *multipart.FileHeader, text string) error {
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	pr, pw := io.Pipe()
	w := multipart.NewWriter(pw)
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(writeFileParts(w, f, fh.Filename, text))
	}()
	ctx := principal.With(c.Request().Context(), principalOf(sessionOf(c)))
	req, err := apiRequest(c, ctx, http.MethodPost, path, pr, w.FormDataContentType())
	if err == nil {
		_, err = s.roundTrip(req, nil)
	}
	// The API may answer before reading it all (a refused file): the
	// writer stops at its next write.
	_ = pr.CloseWithError(io.ErrClosedPipe)
	<-written
	return err
}

// writeFileParts writes the file part (its name cleaned of quotes and
// line breaks) and the text that goes with it, then the closing boundary.
func writeFileParts(w *multipart.Writer, f io.Reader, filename, text string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, strings.NewReplacer("\"", "", "\\", "", "\r", "", "\n", "").Replace(filename)))
	h.Set("Content-Type", "application/octet-stream")
	part, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, f); err != nil {
		return err
	}
	if strings.TrimSpace(text) != "" {
		if err := w.WriteField("text", text); err != nil {
			return err
		}
	}
	return w.Close()
}

func (s *Server) agentClose(c echo.Context) error {
	id, ok := agentInteractionID(c)
	if !ok {
		return s.problem(c, http.StatusNotFound, "not_found", "No such conversation.")
	}
	err := s.call(c, http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", id),
		map[string]string{"disposition": strings.TrimSpace(c.FormValue("disposition"))}, nil)
	return s.agentActionAnswer(c, err, agentConvView{}, "")
}

// agentTransferTarget parses the transfer's choice: "agent:N" or "queue:N".
func agentTransferTarget(v string) (map[string]uint64, bool) {
	kind, n, ok := strings.Cut(strings.TrimSpace(v), ":")
	id, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || id == 0 || (kind != "agent" && kind != "queue") {
		return nil, false
	}
	return map[string]uint64{kind + "Id": id}, true
}

func (s *Server) agentTransfer(c echo.Context) error {
	id, ok := agentInteractionID(c)
	if !ok {
		return s.problem(c, http.StatusNotFound, "not_found", "No such conversation.")
	}
	body, ok := agentTransferTarget(c.FormValue("target"))
	if !ok {
		return s.agentActionAnswer(c, &apiError{Status: http.StatusBadRequest, Code: "invalid_target",
			Message: "Choose a queue or an agent from the list."}, agentConvView{}, "")
	}
	err := s.call(c, http.MethodPost, fmt.Sprintf("/api/interactions/%d/transfer", id), body, nil)
	if err == nil {
		// The conversation is no longer this agent's: back to the inbox.
		return s.agentActionAnswer(c, nil, agentConvView{}, Prefix+"/agent/inbox")
	}
	return s.agentActionAnswer(c, err, agentConvView{}, "")
}

func (s *Server) agentAccept(c echo.Context) error {
	id, ok := agentInteractionID(c)
	if !ok {
		return s.problem(c, http.StatusNotFound, "not_found", "No such conversation.")
	}
	err := s.call(c, http.MethodPost, fmt.Sprintf("/api/interactions/%d/accept", id), nil, nil)
	return s.agentActionAnswer(c, err, agentConvView{}, fmt.Sprintf("%s/agent/conversations/%d", Prefix, id))
}
