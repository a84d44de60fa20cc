package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// A transfer waiting for the agent to accept it (the interaction's
// acceptBy) shows "Transferred to you", the time left and Accept, in the
// inbox and on the conversation; once accepted, neither.
func TestAgentTransferWaitingForAcceptance(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			v := newEnv(t, engine)
			f := newAgentFixture(t, v)
			by := time.Now().Add(90 * time.Second).UTC()
			require.NoError(t, v.db.Model(&models.Interaction{}).Where("id = ?", f.it.ID).Update("accept_by", by).Error)
			ck, _ := v.signin(v.token)
			require.NotNil(t, ck)

			list := v.do(http.MethodGet, "/console/agent/inbox/list", nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
			require.Equal(t, http.StatusOK, list.Code, list.Body.String())
			body := list.Body.String()
			assert.Contains(t, body, "Transferred to you")
			assert.Contains(t, body, `to accept: <time data-countdown="`+by.Format(time.RFC3339)+`"`)
			assert.Contains(t, body, fmt.Sprintf(`action="/console/agent/conversations/%d/accept"`, f.it.ID))

			conv := v.do(http.MethodGet, fmt.Sprintf("/console/agent/conversations/%d", f.it.ID), nil, []*http.Cookie{ck}, nil)
			require.Equal(t, http.StatusOK, conv.Code, conv.Body.String())
			assert.Contains(t, conv.Body.String(), `id="accept-by"`)
			assert.Contains(t, conv.Body.String(), `id="accept"`)
			assert.Contains(t, conv.Body.String(), `id="close-form"`, "it is the agent's already: it may close it")

			require.NoError(t, v.db.Model(&models.Interaction{}).Where("id = ?", f.it.ID).Update("accept_by", nil).Error)
			conv = v.do(http.MethodGet, fmt.Sprintf("/console/agent/conversations/%d", f.it.ID), nil, []*http.Cookie{ck}, nil)
			assert.NotContains(t, conv.Body.String(), `id="accept-by"`)
			assert.NotContains(t, conv.Body.String(), `id="accept"`)
			list = v.do(http.MethodGet, "/console/agent/inbox/list", nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
			assert.NotContains(t, list.Body.String(), "Transferred to you")
		})
	}
}

// The accounts an agent may enable go by their names (GET /api/agents/{id}
// names them), escaped, even without a conversation on them.
func TestAgentSettingsNameTheAccounts(t *testing.T) {
	v := newEnv(t, models.SQLite)
	f := newAgentFixture(t, v)
	quiet := models.Account{Name: "Quiet <i>desk</i>", Key: "quiet", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "01HQUIET", KeyID: "k", Phone: "+390200000001", Channels: "WHATSAPP"}
	require.NoError(t, v.db.Create(&quiet).Error)
	require.NoError(t, v.db.Create(&models.AgentAccount{AgentID: v.agent, AccountID: quiet.ID}).Error)
	ck, _ := v.signin(v.token)
	require.NotNil(t, ck)
	rec := v.do(http.MethodGet, "/console/agent/settings", nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body := rec.Body.String()
	assert.Contains(t, body, "Acme &lt;b&gt;Support&lt;/b&gt;", "the account of the fixture: %d", f.acc.ID)
	assert.Contains(t, body, "Quiet &lt;i&gt;desk&lt;/i&gt;", "an account with no conversation")
	assert.NotContains(t, body, fmt.Sprintf("Account %d", quiet.ID))
}

// A file the browser's check would have stopped, posted to the console
// anyway, reaches the API streamed, and the API's refusal comes back as
// it is (the same words the API gives its clients).
func TestAgentFileUploadReachesTheAPI(t *testing.T) {
	v := newEnv(t, models.SQLite)
	f := newAgentFixture(t, v)
	ck, _ := v.signin(v.token)
	require.NotNil(t, ck)
	var sess models.ConsoleSession
	require.NoError(t, v.db.Where("agent_id = ?", v.agent).Take(&sess).Error)
	gif := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

	post := func(target string, header map[string]string) *httptest.ResponseRecorder {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		part, err := w.CreateFormFile("file", "cat.jpg") // a GIF whatever its name says
		require.NoError(t, err)
		_, _ = part.Write(gif)
		require.NoError(t, w.WriteField("text", "Here"))
		require.NoError(t, w.Close())
		req := httptest.NewRequest(http.MethodPost, target, &body)
		req.RemoteAddr, req.Host = "127.0.0.1:50000", "127.0.0.1:8080"
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.AddCookie(ck)
		for k, val := range header {
			req.Header.Set(k, val)
		}
		rec := httptest.NewRecorder()
		v.e.ServeHTTP(rec, req)
		return rec
	}
	direct := post(fmt.Sprintf("/api/interactions/%d/messages", f.it.ID), map[string]string{"Authorization": "Bearer " + v.token})
	require.Equal(t, http.StatusUnprocessableEntity, direct.Code, direct.Body.String())
	var apiErr struct {
		Error struct{ Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(direct.Body.Bytes(), &apiErr))
	require.Contains(t, apiErr.Error.Message, "GIF")

	rec := post(fmt.Sprintf("/console/agent/conversations/%d/messages", f.it.ID), map[string]string{"HX-Request": "true", "X-CSRF-Token": sess.CSRF})
	assert.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), html.EscapeString(apiErr.Error.Message))
	var stored int64
	require.NoError(t, v.db.Model(&models.Message{}).Where("interaction_id = ? AND direction = ?", f.it.ID, models.DirectionOutbound).Count(&stored).Error)
	assert.Zero(t, stored, "nothing was sent")
}
