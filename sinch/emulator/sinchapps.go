package emulator

import (
	"net/http"
)

// Values of GET …/apps/{app_id} that the emulator does not model.
const (
	// defaultRateLimit is Sinch's default of each app rate (per second).
	defaultRateLimit = 25
	// outboundQueueLimit is the size of an app's MT ingress queue.
	outboundQueueLimit = 500_000
	// conversationRetentionDays is Sinch's default retention_policy.ttl_days.
	conversationRetentionDays = 180
	retentionMessageExpire    = "MESSAGE_EXPIRE_POLICY"
	channelStateActive        = "ACTIVE"
)

// appResponse is Sinch's AppResponse, with the fields the emulator knows.
type appResponse struct {
	ID                      string              `json:"id"`
	DisplayName             string              `json:"display_name"`
	ProcessingMode          string              `json:"processing_mode"`
	ChannelCredentials      []channelCredential `json:"channel_credentials"`
	RateLimits              rateLimits          `json:"rate_limits"`
	QueueStats              queueStats          `json:"queue_stats"`
	RetentionPolicy         retentionPolicy     `json:"retention_policy"`
	DispatchRetentionPolicy retentionPolicy     `json:"dispatch_retention_policy"`
	CallbackSettings        struct{}            `json:"callback_settings"`
}

type channelCredential struct {
	Channel string       `json:"channel"`
	State   channelState `json:"state"`
}

type channelState struct {
	Status string `json:"status"`
}

type rateLimits struct {
	Inbound  int `json:"inbound"`
	Outbound int `json:"outbound"`
	Webhooks int `json:"webhooks"`
}

type queueStats struct {
	OutboundSize  int `json:"outbound_size"`
	OutboundLimit int `json:"outbound_limit"`
}

type retentionPolicy struct {
	RetentionType string `json:"retention_type"`
	TTLDays       int    `json:"ttl_days"`
}

// appView builds the AppResponse of an app. outbound_size counts the
// messages accepted in this run whose first delivery callback is not
// generated yet (still in Sinch's queue). Callers hold s.mu.
func (s *Server) appView(a *App) appResponse {
	out := appResponse{
		ID: a.AppID, DisplayName: a.DisplayName, ProcessingMode: a.ProcessingMode,
		ChannelCredentials: make([]channelCredential, 0, len(a.Channels)),
		RateLimits:         rateLimits{Inbound: defaultRateLimit, Outbound: defaultRateLimit, Webhooks: defaultRateLimit},
		QueueStats:         queueStats{OutboundLimit: outboundQueueLimit},
		RetentionPolicy:    retentionPolicy{RetentionType: retentionMessageExpire, TTLDays: conversationRetentionDays},
		DispatchRetentionPolicy: retentionPolicy{
			RetentionType: retentionMessageExpire, TTLDays: a.DispatchRetentionDays,
		},
	}
	for _, ch := range a.Channels {
		out.ChannelCredentials = append(out.ChannelCredentials, channelCredential{Channel: ch, State: channelState{Status: channelStateActive}})
	}
	for _, m := range s.outbox[a.AppID] {
		if m.status == StatusQueued && !m.restored {
			out.QueueStats.OutboundSize++
		}
	}
	return out
}

// handleGetSinchApp is GET [/{region}]/v1/projects/{projectId}/apps/{appId}.
func (s *Server) handleGetSinchApp(w http.ResponseWriter, r *http.Request) {
	projectID, region, ok := s.sinchCall(w, r)
	if !ok {
		return
	}
	app, ok := s.projectApp(w, r.PathValue("appId"), projectID, region)
	if !ok {
		return
	}
	s.mu.Lock()
	view := s.appView(s.apps[app.AppID]) // apps are never removed
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, view)
}
