package emulator

import (
	"net/http"
	"slices"
	"time"
)

// Fault injects failures into the next Times send requests of an app to To
// (any recipient when To is empty). Exactly one of HTTPStatus, ReasonCode,
// LatencyMs and HangAfterAccept is set:
//   - HTTPStatus 429 (optionally with RetryAfterSeconds, sent as
//     Retry-After), 500 or 503: the send is answered with that Sinch error;
//   - ReasonCode: the send is accepted, then ends in FAILED with that code;
//   - LatencyMs: the send is answered only after that delay;
//   - HangAfterAccept: the send is accepted as usual (outbox, delivery
//     callbacks) but never answered: the request is held until the client
//     goes away, the server is closed or 10 minutes pass, then the
//     connection is dropped. It is a connector that crashed after Sinch took
//     its message and before it recorded the message id.
//
// ReasonCode and HangAfterAccept faults are used up only by accepted sends.
type Fault struct {
	To                string `json:"to"`
	Times             int    `json:"times"` // 0 means 1
	HTTPStatus        int    `json:"httpStatus,omitempty"`
	RetryAfterSeconds int    `json:"retryAfterSeconds,omitempty"`
	ReasonCode        string `json:"reasonCode,omitempty"`
	LatencyMs         int    `json:"latencyMs,omitempty"`
	HangAfterAccept   bool   `json:"hangAfterAccept,omitempty"`
}

// faultKind says which option of a Fault is set.
type faultKind int

const (
	faultHTTP faultKind = iota
	faultReason
	faultLatency
	faultHang
)

func (f Fault) kind() faultKind {
	switch {
	case f.HTTPStatus != 0:
		return faultHTTP
	case f.ReasonCode != "":
		return faultReason
	case f.HangAfterAccept:
		return faultHang
	}
	return faultLatency
}

// activeFault is a fault with the number of sends it still applies to.
type activeFault struct {
	Fault
	remaining int
}

const (
	// maxLatencyMs caps injected latency so a typo cannot hang a test suite.
	maxLatencyMs = 5 * 60 * 1000
	// maxHang bounds a hangAfterAccept fault whose client never gives up.
	maxHang = 10 * time.Minute
)

// faultMessages are the Sinch error messages of injected HTTP statuses.
var faultMessages = map[int]string{
	http.StatusTooManyRequests:     "Too many requests: the project's rate limit was exceeded.",
	http.StatusInternalServerError: "Internal error encountered.",
	http.StatusServiceUnavailable:  "The service is currently unavailable.",
}

// AddFault registers a fault for an app, as POST /emulator/apps/{app}/faults
// does. Errors wrap ErrInvalid or ErrAppNotFound.
func (s *Server) AddFault(appID string, f Fault) error {
	set := 0
	for _, on := range []bool{f.HTTPStatus != 0, f.ReasonCode != "", f.LatencyMs != 0, f.HangAfterAccept} {
		if on {
			set++
		}
	}
	switch {
	case set != 1:
		return invalidf("exactly one of httpStatus, reasonCode, latencyMs and hangAfterAccept is required")
	case f.Times < 0:
		return invalidf("times must not be negative")
	case f.HTTPStatus != 0 && faultMessages[f.HTTPStatus] == "":
		return invalidf("httpStatus must be 429, 500 or 503, got %d", f.HTTPStatus)
	case f.RetryAfterSeconds < 0 || (f.RetryAfterSeconds > 0 && f.HTTPStatus != http.StatusTooManyRequests):
		return invalidf("retryAfterSeconds is only allowed, positive, with httpStatus 429")
	case f.ReasonCode != "" && reasonDescriptions[f.ReasonCode] == "":
		return invalidf("reasonCode %q is not a Conversation API reason code", f.ReasonCode)
	case f.LatencyMs < 0 || f.LatencyMs > maxLatencyMs:
		return invalidf("latencyMs must be between 1 and %d", maxLatencyMs)
	}
	if f.Times == 0 {
		f.Times = 1
	}
	f.To = normalizeIdentity(f.To)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[appID]; !ok {
		return ErrAppNotFound
	}
	s.faults[appID] = append(s.faults[appID], &activeFault{Fault: f, remaining: f.Times})
	return nil
}

// takeFault consumes one use of the oldest fault of that kind matching the
// recipient, or returns nil.
func (s *Server) takeFault(appID, identity string, kind faultKind) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.faults[appID]
	for i, f := range list {
		if f.kind() != kind || (f.To != "" && f.To != identity) {
			continue
		}
		f.remaining--
		if f.remaining <= 0 {
			s.faults[appID] = slices.Delete(list, i, i+1)
		}
		out := f.Fault
		return &out
	}
	return nil
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeStrict(r, w, &f); err != nil {
		writeEmulatorError(w, err)
		return
	}
	if err := s.AddFault(r.PathValue("appId"), f); err != nil {
		writeEmulatorError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
