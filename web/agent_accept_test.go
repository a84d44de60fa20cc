package web_test

import (
	"fmt"
	"net/http"
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
